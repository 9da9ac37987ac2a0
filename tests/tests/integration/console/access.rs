//! Logging in to the console and what a token may do there: the login page without a token
//! (a wrong one refused in the page), the login link (its token taken out of the address
//! bar), a read-only token's changes shown disabled with the scope they need (and its
//! session ended when it is revoked), and the Tokens and Audit pages of an admin: a token
//! made (its secret shown once), used, revoked.

use fantoccini::Locator;
use serde_json::json;
use switchyard_client::{Client, CreateConsumer, CreateToken, PublishRate};
use switchyard_tests::*;

/// The button matching `css` is disabled, and its title names `scope`.
async fn assert_disabled(browser: &Browser, css: &str, scope: &str) -> anyhow::Result<()> {
    let button = browser.element(css).await?;
    assert!(!button.is_enabled().await?, "{css} is enabled");
    let title = button.attr("title").await?.unwrap_or_default();
    assert!(
        title.contains(scope),
        "{css}: its title {title:?} does not name {scope}"
    );
    Ok(())
}

/// What this tab keeps in sessionStorage under the console's key.
async fn stored_token(browser: &Browser) -> anyhow::Result<serde_json::Value> {
    let script = "return sessionStorage.getItem('switchyard-token')";
    Ok(browser.client.execute(script, Vec::new()).await?)
}

#[tokio::test]
async fn without_a_token_the_console_asks_for_one_and_refuses_a_wrong_one() -> anyhow::Result<()> {
    let server = console_server().await?;
    let browser = Browser::start().await?;
    browser.open(&format!("{}/#/wiring", server.url())).await?;
    let page = browser.wait_for_text(".login", "admin-token").await?;
    assert!(
        page.contains("./switchyard-data/admin-token") && page.contains("login link"),
        "the page says where the first token is: {page}"
    );
    browser.screenshot("login").await?;

    browser
        .fill("#login-token", "sy_not-a-token-of-this-server")
        .await?;
    browser.click("#login-submit").await?;
    let refused = browser
        .wait_for_text("#login .form-error", "That token was refused")
        .await?;
    assert!(refused.contains("not known here"), "{refused}");
    assert_eq!(stored_token(&browser).await?, json!(null));
    browser.screenshot("login-refused").await?;

    // The right token, pasted: signed in, on the page the address named.
    browser.fill("#login-token", ADMIN_TOKEN).await?;
    browser.click("#login-submit").await?;
    browser.wait_for_text(".identity", "admin:*:*").await?;
    browser.wait_for_text(".page-head h1", "Wiring").await?;
    browser.close().await
}

#[tokio::test]
async fn a_login_link_signs_in_leaves_the_address_bar_and_log_out_forgets_the_token()
-> anyhow::Result<()> {
    let server = console_server().await?;
    let base = server.url();
    let browser = Browser::start().await?;
    browser.log_in(base, ADMIN_TOKEN).await?;
    let identity = browser.wait_for_text(".identity", "admin").await?;
    assert!(identity.contains("admin:*:*"), "its scopes: {identity}");
    let nav = browser.element(".topbar nav").await?.text().await?;
    assert!(nav.contains("Tokens") && nav.contains("Audit"), "{nav}");
    assert_eq!(stored_token(&browser).await?, json!(ADMIN_TOKEN));
    assert!(
        browser.client.get_all_cookies().await?.is_empty(),
        "no cookies"
    );
    browser.screenshot("signed-in").await?;

    // A reload of the tab stays signed in; logging out forgets the token.
    browser.client.refresh().await?;
    browser.wait_for_text(".identity", "admin").await?;
    browser.click("#log-out").await?;
    browser.element("#login-token").await?;
    assert_eq!(stored_token(&browser).await?, json!(null));
    browser.client.refresh().await?;
    browser.element("#login-token").await?;

    // A link with a token the server does not know: refused in the page, and gone from
    // the address bar all the same.
    browser
        .open(&format!("{base}/#token=sy_revoked-long-ago"))
        .await?;
    browser
        .wait_for_text(
            ".login .banner.error",
            "The token in the login link was refused",
        )
        .await?;
    let address = browser.client.current_url().await?;
    assert!(!address.as_str().contains("sy_revoked"), "{address}");
    browser.close().await
}

#[tokio::test]
async fn a_read_only_token_sees_every_change_disabled_with_the_scope_it_lacks() -> anyhow::Result<()>
{
    let server = console_server().await?;
    let client = &server.client;
    client.create_topic("signups").await?;
    client.create_queue(&queue("mail")).await?;
    client.subscribe("signups", "mail", None).await?;
    client
        .deploy_plugin("worker", plugin_wasm("ack-all")?, true)
        .await?;
    let idle = client
        .deploy_plugin("worker", plugin_wasm("faulty")?, false)
        .await?;
    client
        .create_consumer(&CreateConsumer {
            name: "runner".into(),
            queue: "mail".into(),
            plugin: "worker".into(),
            ..CreateConsumer::default()
        })
        .await?;
    let viewer = client
        .create_token(&CreateToken {
            name: "viewer".into(),
            scopes: vec!["read:*:*".into()],
            ..Default::default()
        })
        .await?;
    let base = server.url();
    let browser = Browser::start().await?;
    browser.log_in(base, &viewer.token).await?;
    browser.wait_for_text(".identity", "read:*:*").await?;
    let nav = browser.element(".topbar nav").await?.text().await?;
    assert!(!nav.contains("Tokens") && !nav.contains("Audit"), "{nav}");

    browser.open(&format!("{base}/#/wiring")).await?;
    browser.element(".flow[data-topic=signups]").await?;
    let topic = ".flow[data-topic=signups] .node.topic button";
    assert_disabled(&browser, topic, "manage:topic:signups").await?;
    let lane = ".flow[data-topic=signups] [data-subscription]";
    assert_disabled(
        &browser,
        &format!("{lane} .filter-node button.link"),
        "manage:topic:signups",
    )
    .await?;
    assert_disabled(
        &browser,
        &format!("{lane} .node.queue button"),
        "manage:queue:mail",
    )
    .await?;
    assert_disabled(
        &browser,
        "#new-topic button[type=submit]",
        "manage:topic:<name>",
    )
    .await?;
    assert_disabled(
        &browser,
        "#new-queue button[type=submit]",
        "manage:queue:<name>",
    )
    .await?;
    assert_disabled(
        &browser,
        "#new-subscription button[type=submit]",
        "manage:topic",
    )
    .await?;
    // The hint follows the form: the name typed is the one named.
    browser
        .fill("#new-topic input[name=topic-name]", "orders")
        .await?;
    browser
        .wait_for_text("#new-topic .needs-scope", "manage:topic:orders")
        .await?;
    browser.screenshot("viewer-wiring").await?;

    browser.open(&format!("{base}/#/queues/mail")).await?;
    for button in ["#edit-settings", "#redrive", "#purge"] {
        assert_disabled(&browser, button, "manage:queue:mail").await?;
    }
    browser
        .wait_for_text(".page-head .needs-scope", "manage:queue:mail")
        .await?;
    browser.screenshot("viewer-queue").await?;

    browser.open(&format!("{base}/#/plugins")).await?;
    let row = "#consumers tr[data-consumer=runner] .row-actions";
    for nth in [1, 2, 4] {
        let button = format!("{row} button:nth-child({nth})");
        assert_disabled(&browser, &button, "deploy:consumer:runner").await?;
    }
    assert!(
        browser
            .element(&format!("{row} button:nth-child(3)"))
            .await?
            .is_enabled()
            .await?,
        "reading the log needs nothing more"
    );
    let activate = format!(
        ".plugin-card[data-plugin=worker] tr[data-version=\"{}\"] button",
        idle.version
    );
    assert_disabled(&browser, &activate, "deploy:plugin:worker").await?;
    assert_disabled(
        &browser,
        "#upload-plugin button[type=submit]",
        "deploy:plugin",
    )
    .await?;
    assert_disabled(
        &browser,
        "#new-consumer button[type=submit]",
        "deploy:consumer",
    )
    .await?;
    browser
        .screenshot_of("viewer-plugins", "#consumers")
        .await?;

    // The server agrees: the same token is refused, the scope named.
    let as_viewer = Client::new(base).with_token(&viewer.token);
    let refused = as_viewer.delete_topic("signups").await.unwrap_err();
    assert_eq!(refused.code(), Some("forbidden"), "{refused}");
    assert!(
        refused.to_string().contains("manage:topic:signups"),
        "{refused}"
    );
    // The Tokens page, opened by its address, says why it shows nothing.
    browser.open(&format!("{base}/#/tokens")).await?;
    browser.wait_for_text(".banner.error", "admin:*:*").await?;

    // Revoked while signed in: the next call brings the login page back, saying why.
    client.revoke_token(&viewer.id).await?;
    browser.open(&format!("{base}/#/")).await?;
    browser
        .wait_for_text(".login .banner.error", "not known here, or was revoked")
        .await?;
    assert_eq!(stored_token(&browser).await?, json!(null));
    browser.screenshot("session-ended").await?;
    browser.close().await
}

#[tokio::test]
async fn an_admin_makes_a_token_sees_its_secret_once_revokes_it_and_the_audit_lists_both()
-> anyhow::Result<()> {
    let server = console_server().await?;
    let base = server.url();
    let browser = Browser::start().await?;
    browser.log_in(base, ADMIN_TOKEN).await?;
    browser.click(".topbar nav a[href='#/tokens']").await?;
    browser.wait_for_text("#tokens", "admin").await?;

    // A scope the server would refuse is refused in the form, in words.
    browser
        .fill("#new-token input[name=token-name]", "ci-publisher")
        .await?;
    browser
        .fill(
            "#new-token textarea[name=token-scopes]",
            "write:topic:orders",
        )
        .await?;
    browser.click("#new-token button[type=submit]").await?;
    browser
        .wait_for_text("#new-token .form-error", "unknown action")
        .await?;
    browser
        .fill(
            "#new-token textarea[name=token-scopes]",
            "publish:topic:orders\nread:*:*",
        )
        .await?;
    browser
        .select("#new-token select[name=token-expires]", "30 days")
        .await?;
    browser
        .fill("#new-token input[name=token-rate]", "50")
        .await?;
    browser
        .fill("#new-token input[name=token-burst]", "100")
        .await?;
    browser.click("#new-token button[type=submit]").await?;
    browser
        .wait_for_text("#new-token-secret", "shown only this once")
        .await?;
    let secret = browser
        .element("#token-secret")
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    assert!(!secret.is_empty(), "the secret is shown");
    browser.click("#copy-token").await?;
    browser.element("#new-token-secret .copy-note").await?;
    browser.screenshot("token-created").await?;

    // The secret works against the API, with what the form said.
    let as_new = Client::new(base).with_token(&secret);
    let me = as_new.whoami().await?;
    assert_eq!(me.name, "ci-publisher");
    assert_eq!(me.scopes, ["publish:topic:orders", "read:*:*"]);
    assert_eq!(
        me.publish_rate,
        Some(PublishRate {
            per_second: 50,
            burst: Some(100)
        })
    );
    let in_30_days = now_ms() + 30 * 86_400_000;
    assert!(
        me.expires_at_ms
            .is_some_and(|at| at.abs_diff(in_30_days) < 600_000),
        "{:?}",
        me.expires_at_ms
    );
    let row = format!("#tokens tr[data-token=\"{}\"]", me.id);
    let listed = browser.wait_for_text(&row, "ci-publisher").await?;
    for shown in ["publish:topic:orders", "50/s, bursts of 100", "by admin"] {
        assert!(listed.contains(shown), "{shown:?} in {listed}");
    }

    // Once dismissed, the secret is nowhere in the page, nor after a reload.
    browser.click("#secret-done").await?;
    assert!(!browser.client.source().await?.contains(&secret));
    browser.client.refresh().await?;
    browser.wait_for_text(&row, "ci-publisher").await?;
    assert!(!browser.client.source().await?.contains(&secret));

    // Revoked after a confirmation: the API refuses it from then on.
    browser.click(&format!("{row} button.revoke")).await?;
    browser.wait_for_text(&row, "Revoke it now?").await?;
    browser.screenshot_of("token-revoke", &row).await?;
    browser
        .click(&format!("{row} button.revoke-confirm"))
        .await?;
    browser
        .wait_for_text(".banner.ok", "Revoked ci-publisher")
        .await?;
    let refused = as_new.whoami().await.unwrap_err();
    assert_eq!(
        (refused.status().map(|s| s.as_u16()), refused.code()),
        (Some(401), Some("unauthenticated")),
        "{refused}"
    );
    wait_until("the row to go", PATIENCE, async || {
        Ok(browser.client.find(Locator::Css(&row)).await.is_err())
    })
    .await?;
    browser.screenshot("tokens").await?;

    // The audit log lists the creation and the revocation, newest first.
    browser.click(".topbar nav a[href='#/audit']").await?;
    let revoked = format!("DELETE /v1/tokens/{}", me.id);
    let audit = browser.wait_for_text("#audit", &revoked).await?;
    let created = audit
        .find("POST /v1/tokens")
        .expect("the creation is listed");
    assert!(
        audit.find(&revoked) < Some(created),
        "newest first: {audit}"
    );
    assert!(audit.contains("admin"), "{audit}");
    browser.screenshot("audit").await?;
    browser.close().await
}
