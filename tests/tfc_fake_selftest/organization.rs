//! The organization and the token's permissions on variable sets.

use super::*;
use tfc_fake::TokenAccess;

#[tokio::test]
async fn the_organization_reports_the_tokens_varset_permissions() {
    let (fake, api) = start().await;
    let org = api.get("/organizations/acme").await;
    assert_eq!(org.status, 200);
    assert_eq!(org.body["data"]["id"], "acme");
    assert_eq!(org.body["data"]["type"], "organizations");
    let permissions = &org.body["data"]["attributes"]["permissions"];
    assert_eq!(permissions["can-manage-varsets"], true);
    assert_eq!(permissions["can-read-varsets"], true);

    // Unknown (or invisible) organizations and bad tokens answer as everywhere else.
    assert_eq!(api.get("/organizations/other").await.status, 404);
    let anonymous = send(api.http.get(api.url("/organizations/acme"))).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(fake.write_count(), 0);
}

#[tokio::test]
async fn a_token_that_may_only_read_sets_gets_404_for_every_change_to_one() {
    let (fake, api) = start_with(FakeOptions {
        token_access: TokenAccess::ReadVarsets,
        ..FakeOptions::default()
    })
    .await;
    let existing = fake.seed_varset("acme", "existing", &[("A", "1", "env")]);
    let permissions =
        api.get("/organizations/acme").await.body["data"]["attributes"]["permissions"].clone();
    assert_eq!(permissions["can-manage-varsets"], false);
    assert_eq!(permissions["can-read-varsets"], true);

    assert_eq!(api.get("/organizations/acme/varsets").await.status, 200);
    assert_eq!(
        api.get(&format!("/varsets/{existing}/relationships/vars"))
            .await
            .status,
        200
    );
    let created = api
        .create_varset("acme", json!({"name": "new"}), json!({}))
        .await;
    assert_eq!(created.status, 404);
    let added = api
        .add_var(
            &existing,
            json!({"key": "B", "value": "2", "category": "env"}),
        )
        .await;
    assert_eq!(added.status, 404);
    let renamed = api
        .call(
            "PATCH",
            &format!("/varsets/{existing}"),
            Some(json!({"data": {"type": "varsets", "attributes": {"name": "renamed"}}})),
        )
        .await;
    assert_eq!(renamed.status, 404);
    assert_eq!(fake.write_count(), 0, "refused writes change nothing");
    assert_eq!(fake.varsets("acme").len(), 1);
    assert_eq!(fake.varset(&existing).unwrap().vars.len(), 1);
}

#[tokio::test]
async fn an_older_server_reports_no_varset_permission() {
    let (_fake, api) = start_with(FakeOptions {
        token_access: TokenAccess::Unreported,
        ..FakeOptions::default()
    })
    .await;
    let org = api.get("/organizations/acme").await;
    let permissions = &org.body["data"]["attributes"]["permissions"];
    assert!(
        permissions.get("can-manage-varsets").is_none(),
        "{org:?}",
        org = org.body
    );
    assert!(permissions.get("can-update").is_some());
}
