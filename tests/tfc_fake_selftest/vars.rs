//! Variables inside a set: CRUD, validation, sensitivity and pagination.

use super::*;

#[tokio::test]
async fn vars_crud_and_validation() {
    let (fake, api) = start().await;
    let id = fake.seed_varset("acme", "set", &[("AWS_DEFAULT_REGION", "eu-west-1", "env")]);
    let vars_path = format!("/varsets/{id}/relationships/vars");

    let added = api
        .add_var(&id, json!({"key": "TFC_AWS_RUN_ROLE_ARN", "value": "arn:aws:iam::1:role/a", "category": "env", "hcl": false, "sensitive": false}))
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let var = &added.body["data"];
    let var_id = var["id"].as_str().expect("var id").to_owned();
    assert!(var_id.starts_with("var-") && var_id.len() == 20);
    assert_eq!(var["type"], "vars");
    assert_eq!(var["attributes"]["value"], "arn:aws:iam::1:role/a");
    assert_eq!(var["attributes"]["description"], "");
    assert_eq!(var["relationships"]["varset"]["data"]["id"], id.as_str());
    let first_version = var["attributes"]["version-id"]
        .as_str()
        .expect("version")
        .to_owned();

    let duplicate = api
        .add_var(
            &id,
            json!({"key": "TFC_AWS_RUN_ROLE_ARN", "value": "other", "category": "env"}),
        )
        .await;
    assert_eq!(duplicate.status, 422);
    assert_eq!(
        duplicate.body["errors"][0]["detail"],
        "Key has already been taken"
    );
    let other_category = api
        .add_var(
            &id,
            json!({"key": "TFC_AWS_RUN_ROLE_ARN", "value": "x", "category": "terraform"}),
        )
        .await;
    assert_eq!(other_category.status, 201, "keys are unique per category");
    for bad in [
        json!({"key": "K", "value": "v", "category": "bogus"}),
        json!({"key": "K", "value": "v"}),
        json!({"key": "", "value": "v", "category": "env"}),
        json!({"value": "v", "category": "env"}),
        json!({"key": "k".repeat(129), "value": "v", "category": "env"}),
        json!({"key": "K", "value": 5, "category": "env"}),
    ] {
        let reply = api.add_var(&id, bad.clone()).await;
        assert_eq!(reply.status, 422, "{bad}");
    }
    assert_eq!(
        api.add_var(&id, json!({"key": "k".repeat(128), "category": "env"}))
            .await
            .status,
        201
    );
    let wrong_type = api
        .call(
            "POST",
            &vars_path,
            Some(json!({"data": {"type": "var", "attributes": {"key": "K", "category": "env"}}})),
        )
        .await;
    assert_eq!(wrong_type.status, 422);
    assert_eq!(fake.varset(&id).expect("set").vars.len(), 4);

    let listed = api.get(&vars_path).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["meta"]["pagination"]["total-count"], 4);
    assert_eq!(
        listed.body["data"][0]["attributes"]["key"],
        "AWS_DEFAULT_REGION"
    );
    assert!(listed.body["data"][0]["attributes"]["created-at"].is_string());

    let var_path = format!("{vars_path}/{var_id}");
    let patched = api
        .call(
            "PATCH",
            &var_path,
            Some(
                json!({"data": {"type": "vars", "attributes": {"value": "arn:aws:iam::1:role/b"}}}),
            ),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        patched.body["data"]["attributes"]["value"],
        "arn:aws:iam::1:role/b"
    );
    assert_eq!(
        patched.body["data"]["attributes"]["key"],
        "TFC_AWS_RUN_ROLE_ARN"
    );
    assert_ne!(
        patched.body["data"]["attributes"]["version-id"],
        first_version.as_str()
    );
    let rename_onto_existing = api
        .call(
            "PATCH",
            &var_path,
            Some(json!({"data": {"type": "vars", "attributes": {"key": "AWS_DEFAULT_REGION"}}})),
        )
        .await;
    assert_eq!(rename_onto_existing.status, 422);
    assert_eq!(
        api.get(&var_path).await.body["data"]["attributes"]["value"],
        "arn:aws:iam::1:role/b"
    );

    let made_sensitive = api
        .call(
            "PATCH",
            &var_path,
            Some(json!({"data": {"type": "vars", "attributes": {"sensitive": true}}})),
        )
        .await;
    assert_eq!(made_sensitive.status, 200);
    assert_eq!(
        made_sensitive.body["data"]["attributes"]["value"],
        Value::Null
    );
    let sensitive_description = api
        .call(
            "PATCH",
            &var_path,
            Some(json!({"data": {"type": "vars", "attributes": {"description": "new"}}})),
        )
        .await;
    assert_eq!(
        sensitive_description.status, 422,
        "only the value of a sensitive var may change"
    );
    let sensitive_value = api
        .call(
            "PATCH",
            &var_path,
            Some(
                json!({"data": {"type": "vars", "attributes": {"value": "arn:aws:iam::1:role/c"}}}),
            ),
        )
        .await;
    assert_eq!(sensitive_value.status, 200);
    let stored = fake.varset(&id).expect("set");
    let stored_var = stored.vars.iter().find(|v| v.id == var_id).expect("var");
    assert_eq!(stored_var.value, "arn:aws:iam::1:role/c");
    assert!(stored_var.sensitive);

    let missing_var = format!("{vars_path}/var-doesnotexist0000");
    let missing = api
        .call(
            "PATCH",
            &missing_var,
            Some(json!({"data": {"type": "vars", "attributes": {"value": "x"}}})),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(api.call("DELETE", &var_path, None).await.status, 204);
    assert_eq!(api.call("DELETE", &var_path, None).await.status, 404);
    assert!(fake
        .varset(&id)
        .expect("set")
        .vars
        .iter()
        .all(|v| v.id != var_id));
    assert_eq!(
        api.add_var(
            "varset-doesnotexist0000",
            json!({"key": "K", "category": "env"})
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn vars_list_paginates() {
    let (fake, api) = start_with(FakeOptions {
        max_page_size: 3,
        ..FakeOptions::default()
    })
    .await;
    let vars: Vec<(String, String)> = (0..5).map(|i| (format!("K{i}"), format!("v{i}"))).collect();
    let refs: Vec<(&str, &str, &str)> = vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str(), "env"))
        .collect();
    let id = fake.seed_varset("acme", "set", &refs);

    let first = api
        .get(&format!(
            "/varsets/{id}/relationships/vars?page%5Bsize%5D=100"
        ))
        .await;
    assert_eq!(first.body["data"].as_array().expect("data").len(), 3);
    assert_eq!(first.body["meta"]["pagination"]["total-pages"], 2);
    let next = first.body["links"]["next"]
        .as_str()
        .expect("next")
        .to_owned();
    let second = api.get(&next).await;
    let keys: Vec<&str> = second.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v["attributes"]["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["K3", "K4"]);
    assert_eq!(second.body["links"]["next"], Value::Null);
}

#[tokio::test]
async fn sensitive_values_are_never_returned_and_sensitivity_never_turned_off() {
    let (fake, api) = start().await;
    let id = fake.seed_varset("acme", "set", &[]);
    let seeded = fake.seed_var(&id, "SEEDED", "seeded-secret", "env", true);
    let vars_path = format!("/varsets/{id}/relationships/vars");
    let added = api
        .add_var(
            &id,
            json!({"key": "ADDED", "value": "added-secret", "category": "env", "sensitive": true}),
        )
        .await;
    assert_eq!(added.status, 201);
    assert_eq!(added.body["data"]["attributes"]["value"], Value::Null);
    assert_eq!(added.body["data"]["attributes"]["sensitive"], true);
    let added_id = added.body["data"]["id"].as_str().expect("id").to_owned();
    let created = api
        .create_varset(
            "acme",
            json!({"name": "inline"}),
            json!({"vars": {"data": [{"type": "vars", "attributes":
                {"key": "INLINE", "value": "inline-secret", "category": "env", "sensitive": true}}]}}),
        )
        .await;
    assert_eq!(created.status, 201);
    let inline_set = created.body["data"]["id"].as_str().expect("id").to_owned();

    // Every way of reading a variable: list, show, the set with include=vars, and the answers
    // to create and update. None may carry the value.
    let mut bodies = vec![
        api.get(&vars_path).await.body,
        api.get(&format!("{vars_path}/{seeded}")).await.body,
        api.get(&format!("/varsets/{id}?include=vars")).await.body,
        api.get(&format!("/varsets/{inline_set}?include=vars"))
            .await
            .body,
        created.body.clone(),
    ];
    let rewritten = api
        .call(
            "PATCH",
            &format!("{vars_path}/{seeded}"),
            Some(json!({"data": {"type": "vars", "attributes": {"value": "rotated-secret"}}})),
        )
        .await;
    assert_eq!(
        rewritten.status, 200,
        "the value of a sensitive var may change"
    );
    bodies.push(rewritten.body.clone());
    for body in &bodies {
        let text = body.to_string();
        for secret in [
            "seeded-secret",
            "added-secret",
            "inline-secret",
            "rotated-secret",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
    assert_eq!(rewritten.body["data"]["attributes"]["value"], Value::Null);
    let stored = fake.varset(&id).expect("set");
    let seeded_var = stored.vars.iter().find(|v| v.id == seeded).expect("var");
    assert_eq!(seeded_var.value, "rotated-secret");
    assert!(seeded_var.sensitive);

    for (attributes, what) in [
        (json!({"sensitive": false}), "made non-sensitive"),
        (
            json!({"value": "v", "sensitive": false}),
            "made non-sensitive with a value",
        ),
        (json!({"key": "RENAMED"}), "renamed"),
        (json!({"description": "new"}), "described"),
        (json!({"hcl": true}), "turned into HCL"),
        (
            json!({"category": "terraform"}),
            "moved to another category",
        ),
    ] {
        let reply = api
            .call(
                "PATCH",
                &format!("{vars_path}/{added_id}"),
                Some(json!({"data": {"type": "vars", "attributes": attributes}})),
            )
            .await;
        assert_eq!(reply.status, 422, "a sensitive var cannot be {what}");
    }
    let same = api
        .call(
            "PATCH",
            &format!("{vars_path}/{added_id}"),
            Some(json!({"data": {"type": "vars", "attributes":
                {"key": "ADDED", "value": "again", "sensitive": true, "hcl": false, "category": "env"}}})),
        )
        .await;
    assert_eq!(
        same.status, 200,
        "re-sending unchanged attributes is no change"
    );
    let stored = fake.varset(&id).expect("set");
    let added_var = stored.vars.iter().find(|v| v.id == added_id).expect("var");
    assert!(added_var.sensitive);
    assert_eq!(
        (added_var.key.as_str(), added_var.value.as_str()),
        ("ADDED", "again")
    );
}
