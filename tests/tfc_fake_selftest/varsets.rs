//! Variable sets: creation, names, ownership, global sets and applying sets to workspaces and projects.

use super::*;

#[tokio::test]
async fn creates_a_set_with_inline_vars_and_reads_it_back() {
    let (fake, api) = start().await;
    let ws = fake.seed_workspace("acme", "network", None);
    let created = api
        .create_varset(
            "acme",
            json!({"name": "aws-123456789012", "description": "AWS account 123456789012", "global": false, "priority": false}),
            json!({
                "vars": {"data": [
                    {"type": "vars", "attributes": {"key": "TFC_AWS_PROVIDER_AUTH", "value": "true", "category": "env"}},
                    {"type": "vars", "attributes": {"key": "secret", "value": "s3cr3t", "category": "terraform", "sensitive": true, "hcl": false, "description": "d"}},
                ]},
                "workspaces": {"data": [{"type": "workspaces", "id": ws}]},
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("content-type"), Some(JSONAPI));
    let data = &created.body["data"];
    let id = data["id"].as_str().expect("id").to_owned();
    assert!(
        id.starts_with("varset-") && id.len() == "varset-".len() + 16,
        "{id}"
    );
    assert!(id["varset-".len()..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(data["type"], "varsets");
    assert_eq!(data["attributes"]["name"], "aws-123456789012");
    assert_eq!(data["attributes"]["var-count"], 2);
    assert_eq!(
        data["relationships"]["parent"]["data"],
        json!({"id": "acme", "type": "organizations"})
    );
    let inline = &data["relationships"]["vars"]["data"];
    assert!(inline[0]["id"]
        .as_str()
        .expect("var id")
        .starts_with("var-"));
    assert_eq!(inline[0]["attributes"]["key"], "TFC_AWS_PROVIDER_AUTH");
    assert_eq!(inline[0]["attributes"]["value"], "true");
    assert_eq!(
        inline[1]["attributes"]["value"],
        Value::Null,
        "sensitive values are never returned"
    );

    let state = fake
        .varset_by_name("acme", "aws-123456789012")
        .expect("stored");
    assert_eq!(state.id, id);
    assert_eq!(state.description, "AWS account 123456789012");
    assert_eq!(state.organization, "acme");
    assert!(!state.global && !state.priority);
    assert_eq!(state.workspace_ids, [ws.as_str()]);
    assert!(state.project_ids.is_empty());
    assert_eq!(state.vars.len(), 2);
    assert_eq!(state.vars[1].value, "s3cr3t");
    assert!(state.vars[1].sensitive);
    assert_eq!(state.vars[1].category, "terraform");
    assert_eq!(state.vars[1].description, "d");
    assert_eq!(fake.varset(&id).expect("by id").name, state.name);
    assert!(fake.varset_by_name("acme", "AWS-123456789012").is_none());

    let shown = api.get(&format!("/varsets/{id}")).await;
    assert_eq!(shown.status, 200);
    let attrs = &shown.body["data"]["attributes"];
    assert_eq!(attrs["workspace-count"], 1);
    let updated_at = attrs["updated-at"].as_str().expect("updated-at");
    let this_year = httpdate::fmt_http_date(SystemTime::now())[12..16].to_owned();
    assert!(
        updated_at.starts_with(&this_year) && updated_at.ends_with('Z') && updated_at.len() == 24,
        "{updated_at}"
    );
    let ids_only = &shown.body["data"]["relationships"]["vars"]["data"][0];
    assert_eq!(ids_only, &json!({"id": state.vars[0].id, "type": "vars"}));
    assert!(shown.body.get("included").is_none());

    let with_vars = api.get(&format!("/varsets/{id}?include=vars")).await;
    let included = with_vars.body["included"].as_array().expect("included");
    assert_eq!(included.len(), 2);
    assert_eq!(included[0]["attributes"]["key"], "TFC_AWS_PROVIDER_AUTH");
    assert_eq!(included[0]["attributes"]["category"], "env");
    assert_eq!(
        included[0]["relationships"]["varset"]["data"]["id"],
        id.as_str()
    );
    assert_eq!(
        api.get(&format!("/varsets/{id}?include=bogus"))
            .await
            .status,
        400
    );
    assert_eq!(
        api.get("/varsets/varset-doesnotexist0000").await.status,
        404
    );
}

#[tokio::test]
async fn duplicate_names_get_the_documented_422() {
    let (fake, api) = start().await;
    fake.seed_varset(
        "acme",
        "aws-111111111111",
        &[("AWS_DEFAULT_REGION", "eu-west-1", "env")],
    );

    let duplicate = api
        .create_varset("acme", json!({"name": "aws-111111111111"}), json!({}))
        .await;
    assert_eq!(duplicate.status, 422);
    assert_eq!(
        duplicate.body,
        json!({"errors": [{
            "status": "422",
            "title": "invalid attribute",
            "detail": "Name has already been taken",
            "source": {"pointer": "/data/attributes/name"},
        }]})
    );

    let other_case = api
        .create_varset("acme", json!({"name": "AWS-111111111111"}), json!({}))
        .await;
    assert_eq!(
        other_case.status, 201,
        "names are compared case-sensitively"
    );
    let other_id = other_case.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rename = api
        .call(
            "PATCH",
            &format!("/varsets/{other_id}"),
            Some(json!({"data": {"type": "varsets", "attributes": {"name": "aws-111111111111"}}})),
        )
        .await;
    assert_eq!(rename.status, 422);
    assert_eq!(
        rename.body["errors"][0]["detail"],
        "Name has already been taken"
    );

    fake.add_organization("other");
    let other_org = api
        .create_varset("other", json!({"name": "aws-111111111111"}), json!({}))
        .await;
    assert_eq!(other_org.status, 201, "uniqueness is per organization");
    assert_eq!(fake.varsets("acme").len(), 2);
}

#[tokio::test]
async fn applies_sets_to_workspaces_and_projects() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    let net = fake.seed_workspace("acme", "net", Some(&platform));
    let app = fake.seed_workspace("acme", "app", None);
    let id = fake.seed_varset("acme", "set", &[]);
    let ws_path = format!("/varsets/{id}/relationships/workspaces");
    let prj_path = format!("/varsets/{id}/relationships/projects");
    let ws_refs = |ids: &[&str]| json!({"data": ids.iter().map(|id| json!({"type": "workspaces", "id": id})).collect::<Vec<_>>()});

    let applied = api
        .call("POST", &ws_path, Some(ws_refs(&[&net, &app])))
        .await;
    assert_eq!((applied.status, &applied.body), (204, &Value::Null));
    assert_eq!(
        api.call("POST", &ws_path, Some(ws_refs(&[&net])))
            .await
            .status,
        204
    );
    assert_eq!(
        fake.varset(&id).expect("set").workspace_ids,
        [net.clone(), app.clone()]
    );
    let unknown = api
        .call(
            "POST",
            &ws_path,
            Some(ws_refs(&[&net, "ws-doesnotexist0000"])),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let wrong_type = api
        .call(
            "POST",
            &ws_path,
            Some(json!({"data": [{"type": "projects", "id": platform}]})),
        )
        .await;
    assert_eq!(wrong_type.status, 422);
    assert_eq!(
        api.call("DELETE", &ws_path, Some(ws_refs(&[&net])))
            .await
            .status,
        204
    );
    assert_eq!(fake.varset(&id).expect("set").workspace_ids, [app.as_str()]);

    let project = api
        .call(
            "POST",
            &prj_path,
            Some(json!({"data": [{"type": "projects", "id": platform}]})),
        )
        .await;
    assert_eq!(project.status, 204);
    let unknown_project = api
        .call(
            "POST",
            &prj_path,
            Some(json!({"data": [{"type": "projects", "id": "prj-doesnotexist000"}]})),
        )
        .await;
    assert_eq!(unknown_project.status, 404);
    assert_eq!(
        fake.varset(&id).expect("set").project_ids,
        [platform.as_str()]
    );
    assert_eq!(
        api.get(&format!("/varsets/{id}")).await.body["data"]["attributes"]["project-count"],
        1
    );

    let global = fake.seed_varset("acme", "global", &[]);
    let made_global = api
        .call("PATCH", &format!("/varsets/{global}"), Some(json!({"data": {"type": "varsets", "attributes": {"global": true, "priority": true}}})))
        .await;
    assert_eq!(made_global.status, 200);
    assert_eq!(made_global.body["data"]["attributes"]["global"], true);
    let stored_global = fake.varset(&global).expect("set");
    assert!(stored_global.global && stored_global.priority);
    let to_global = api
        .call(
            "POST",
            &format!("/varsets/{global}/relationships/workspaces"),
            Some(ws_refs(&[&net])),
        )
        .await;
    assert_eq!(to_global.status, 422);

    let workspace = api.get("/organizations/acme/workspaces/net").await;
    assert_eq!(workspace.status, 200);
    assert_eq!(workspace.body["data"]["id"], net.as_str());
    assert_eq!(workspace.body["data"]["type"], "workspaces");
    assert_eq!(workspace.body["data"]["attributes"]["name"], "net");
    assert_eq!(
        workspace.body["data"]["relationships"]["project"]["data"]["id"],
        platform.as_str()
    );
    let app_ws = api.get("/organizations/acme/workspaces/app").await;
    let default_project = app_ws.body["data"]["relationships"]["project"]["data"]["id"]
        .as_str()
        .expect("project id")
        .to_owned();
    assert_eq!(
        fake.seed_project("acme", "default project"),
        default_project
    );

    let by_names = api
        .get("/organizations/acme/projects?filter%5Bnames%5D=platform,DEFAULT%20PROJECT")
        .await;
    assert_eq!(by_names.status, 200);
    assert_eq!(names(&by_names), ["Platform", "Default Project"]);
    assert_eq!(by_names.body["data"][0]["id"], platform.as_str());
    assert_eq!(by_names.body["data"][0]["attributes"]["workspace-count"], 1);
    assert_eq!(
        names(
            &api.get("/organizations/acme/projects?filter[names]=plat")
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&api.get("/organizations/acme/projects?q=PLAT").await),
        ["Platform"]
    );
    assert_eq!(
        names(
            &api.get("/organizations/acme/projects?q=plat&filter%5Bnames%5D=default+project")
                .await
        ),
        ["Default Project"],
        "filter[names] wins over q"
    );
}

#[tokio::test]
async fn project_owned_and_global_sets_follow_the_rules() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    let parent = json!({"parent": {"data": {"type": "projects", "id": platform}}});
    let owned = api
        .create_varset("acme", json!({"name": "owned"}), parent.clone())
        .await;
    assert_eq!(owned.status, 201);
    assert_eq!(
        owned.body["data"]["relationships"]["parent"]["data"]["type"],
        "projects"
    );
    assert_eq!(
        fake.varset_by_name("acme", "owned")
            .expect("set")
            .project_ids,
        [platform]
    );
    let global_owned = api
        .create_varset(
            "acme",
            json!({"name": "global-owned", "global": true}),
            parent,
        )
        .await;
    assert_eq!(global_owned.status, 422);

    let env_var = json!({"vars": {"data": [{"type": "vars", "attributes": {"key": "AWS_DEFAULT_REGION", "value": "eu-west-1", "category": "env"}}]}});
    let first = api
        .create_varset(
            "acme",
            json!({"name": "g1", "global": true}),
            env_var.clone(),
        )
        .await;
    assert_eq!(first.status, 201);
    assert!(fake.varset_by_name("acme", "g1").expect("set").global);
    let conflicting = api
        .create_varset(
            "acme",
            json!({"name": "g2", "global": true}),
            env_var.clone(),
        )
        .await;
    assert_eq!(
        conflicting.status, 422,
        "global sets may not share a key and category"
    );
    let not_global = api
        .create_varset("acme", json!({"name": "g2", "global": false}), env_var)
        .await;
    assert_eq!(not_global.status, 201);
}

#[tokio::test]
async fn a_create_can_be_made_to_ignore_inline_vars() {
    let (fake, api) = start_with(FakeOptions {
        create_ignores_inline_vars: true,
        ..FakeOptions::default()
    })
    .await;
    let created = api
        .create_varset(
            "acme",
            json!({"name": "aws-123456789012"}),
            json!({"vars": {"data": [{"type": "vars", "attributes":
                {"key": "TFC_AWS_PROVIDER_AUTH", "value": "true", "category": "env"}}]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["data"]["relationships"]["vars"]["data"],
        json!([]),
        "the answer shows what was stored: nothing"
    );
    assert_eq!(created.body["data"]["attributes"]["var-count"], 0);
    let id = created.body["data"]["id"].as_str().expect("id");
    assert!(fake.varset(id).expect("set").vars.is_empty());
    let added = api
        .add_var(
            id,
            json!({"key": "TFC_AWS_PROVIDER_AUTH", "value": "true", "category": "env"}),
        )
        .await;
    assert_eq!(added.status, 201, "the variables endpoint still works");
}
