//! Who owns a variable set: `relationships.parent` on every document, project-owned sets,
//! the organization list's `scope=owned` and `filter[global]`, and one namespace of names.

use super::*;

fn parent_of(doc: &Value) -> Value {
    doc["relationships"]["parent"]["data"].clone()
}

#[tokio::test]
async fn every_set_document_names_its_parent() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    let org_set = fake.seed_varset("acme", "org-set", &[("K", "v", "env")]);
    let project_set = fake.seed_project_varset("acme", &platform, "project-set", &[]);
    let organization = json!({"id": "acme", "type": "organizations"});
    let project = json!({"id": platform, "type": "projects"});

    let listed = api.get("/organizations/acme/varsets").await;
    assert_eq!(listed.status, 200);
    let parents: Vec<(String, Value)> = listed.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| (d["id"].as_str().unwrap().to_owned(), parent_of(d)))
        .collect();
    assert_eq!(
        parents,
        [
            (org_set.clone(), organization.clone()),
            (project_set.clone(), project.clone())
        ],
        "the organization's list holds project-owned sets too unless scope=owned"
    );
    for (id, expected) in [(&org_set, &organization), (&project_set, &project)] {
        let shown = api.get(&format!("/varsets/{id}?include=vars")).await;
        assert_eq!(&parent_of(&shown.body["data"]), expected);
        let updated = api
            .call(
                "PATCH",
                &format!("/varsets/{id}"),
                Some(json!({"data": {"type": "varsets", "attributes": {"description": "d"}}})),
            )
            .await;
        assert_eq!(updated.status, 200, "{}", updated.body);
        assert_eq!(&parent_of(&updated.body["data"]), expected);
    }
    let created = api
        .create_varset(
            "acme",
            json!({"name": "explicit-org"}),
            json!({"parent": {"data": {"type": "organizations", "id": "acme"}}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(parent_of(&created.body["data"]), organization);
    let stored = fake.varset(&project_set).expect("set");
    assert_eq!(stored.parent_project.as_deref(), Some(platform.as_str()));
    assert_eq!(
        stored.project_ids,
        [platform.as_str()],
        "applied to its owner"
    );
    assert_eq!(fake.varset(&org_set).expect("set").parent_project, None);
}

#[tokio::test]
async fn a_project_owned_set_is_never_global_and_its_parent_never_changes() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    let other = fake.seed_project("acme", "Other");
    let parent = |id: &str| json!({"parent": {"data": {"type": "projects", "id": id}}});
    let owned = api
        .create_varset("acme", json!({"name": "owned"}), parent(&platform))
        .await;
    assert_eq!(owned.status, 201, "{}", owned.body);
    let id = owned.body["data"]["id"].as_str().expect("id").to_owned();
    let unknown = api
        .create_varset("acme", json!({"name": "x"}), parent("prj-doesnotexist000"))
        .await;
    assert_eq!(unknown.status, 404, "an unknown parent project");
    let global = api
        .create_varset(
            "acme",
            json!({"name": "y", "global": true}),
            parent(&platform),
        )
        .await;
    assert_eq!(global.status, 422);
    let made_global = api
        .call(
            "PATCH",
            &format!("/varsets/{id}"),
            Some(json!({"data": {"type": "varsets", "attributes": {"global": true}}})),
        )
        .await;
    assert_eq!(made_global.status, 422);

    for new_parent in [
        json!({"type": "projects", "id": other}),
        json!({"type": "organizations", "id": "acme"}),
        json!({"type": "projects", "id": platform}),
    ] {
        let moved = api
            .call(
                "PATCH",
                &format!("/varsets/{id}"),
                Some(json!({"data": {"type": "varsets", "attributes": {},
                    "relationships": {"parent": {"data": new_parent}}}})),
            )
            .await;
        assert_eq!(moved.status, 422, "{new_parent}: {}", moved.body);
        assert_eq!(
            moved.body["errors"][0]["source"]["pointer"],
            "/data/relationships/parent"
        );
    }
    let stored = fake.varset(&id).expect("set");
    assert_eq!(stored.parent_project.as_deref(), Some(platform.as_str()));
    assert!(!stored.global);
}

#[tokio::test]
async fn the_organization_list_filters_by_owner_and_by_global() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    fake.seed_varset("acme", "aws-org", &[]);
    fake.seed_project_varset("acme", &platform, "aws-project", &[]);
    let global = api
        .create_varset(
            "acme",
            json!({"name": "aws-global", "global": true}),
            json!({}),
        )
        .await;
    assert_eq!(global.status, 201);
    let list = |query: &'static str| {
        let api = &api;
        async move {
            let reply = api
                .get(&format!("/organizations/acme/varsets{query}"))
                .await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.body);
            names(&reply)
        }
    };
    assert_eq!(list("").await, ["aws-org", "aws-project", "aws-global"]);
    assert_eq!(list("?scope=owned").await, ["aws-org", "aws-global"]);
    assert_eq!(list("?filter%5Bglobal%5D=true").await, ["aws-global"]);
    assert_eq!(
        list("?filter[global]=false").await,
        ["aws-org", "aws-project"]
    );
    assert_eq!(
        list("?scope=owned&filter%5Bglobal%5D=false&q=AWS").await,
        ["aws-org"]
    );
    let next = api
        .get("/organizations/acme/varsets?scope=owned&page%5Bsize%5D=1")
        .await;
    let link = next.body["links"]["next"].as_str().expect("next link");
    assert!(link.contains("scope=owned"), "{link}");
    for bad in ["?scope=all", "?scope=", "?filter%5Bglobal%5D=yes"] {
        let reply = api.get(&format!("/organizations/acme/varsets{bad}")).await;
        assert_eq!(reply.status, 422, "{bad}");
    }
}

#[tokio::test]
async fn names_are_one_namespace_for_organization_and_project_sets() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    let parent = json!({"parent": {"data": {"type": "projects", "id": platform}}});
    fake.seed_project_varset("acme", &platform, "aws-111111111111", &[]);
    let org_namesake = api
        .create_varset("acme", json!({"name": "aws-111111111111"}), json!({}))
        .await;
    assert_eq!(org_namesake.status, 422);
    assert_eq!(
        org_namesake.body["errors"][0]["detail"],
        "Name has already been taken"
    );
    fake.seed_varset("acme", "aws-222222222222", &[]);
    let project_namesake = api
        .create_varset("acme", json!({"name": "aws-222222222222"}), parent.clone())
        .await;
    assert_eq!(project_namesake.status, 422);
    let renamed = api
        .create_varset("acme", json!({"name": "scratch"}), parent)
        .await;
    let id = renamed.body["data"]["id"].as_str().expect("id").to_owned();
    let rename = api
        .call(
            "PATCH",
            &format!("/varsets/{id}"),
            Some(json!({"data": {"type": "varsets", "attributes": {"name": "aws-222222222222"}}})),
        )
        .await;
    assert_eq!(rename.status, 422, "a rename collides the same way");
    assert_eq!(fake.varsets("acme").len(), 3);
}

#[tokio::test]
async fn a_project_can_be_shown_by_id() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    let shown = api.get(&format!("/projects/{platform}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["data"]["id"], platform.as_str());
    assert_eq!(shown.body["data"]["attributes"]["name"], "Platform");
    assert_eq!(
        shown.body["data"]["relationships"]["organization"]["data"]["id"],
        "acme"
    );
    assert_eq!(api.get("/projects/prj-doesnotexist000").await.status, 404);
}
