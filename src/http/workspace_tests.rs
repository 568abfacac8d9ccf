//! The workspace's pages: what they say for a given view, in both languages.
#![allow(clippy::unwrap_used)]

use super::discovery::{Endpoint, MailSettings, Protocol, Security};
use super::route::Lang;
use super::workspace::{self, CredentialView, Notice, SecurityView, ServerView, SignInProblem};

fn settings(starttls: bool) -> MailSettings {
    let mut endpoints = vec![
        Endpoint {
            protocol: Protocol::Imap,
            port: 993,
            security: Security::Ssl,
        },
        Endpoint {
            protocol: Protocol::Smtp,
            port: 465,
            security: Security::Ssl,
        },
    ];
    if starttls {
        endpoints.push(Endpoint {
            protocol: Protocol::Imap,
            port: 143,
            security: Security::StartTls,
        });
    }
    MailSettings::new("mail.example.com", "example.com", endpoints).unwrap()
}

#[test]
fn the_server_page_says_ssl_only_when_no_starttls_listener_exists() {
    let only_ssl = settings(false);
    let view = ServerView {
        account: "alice@example.com",
        csrf: "tok",
        settings: &only_ssl,
    };
    let de = workspace::server(Lang::De, &view);
    assert!(de.contains("<html lang=\"de\">"));
    assert!(de.contains("Nur SSL-Verbindungen sind erlaubt."), "{de}");
    assert!(de.contains("<td>mail.example.com</td><td>993</td><td>SSL</td>"));
    assert!(de.contains("<code>alice@example.com</code>"));
    // The sign-out form carries the session's token.
    assert!(de.contains("name=\"csrf\" value=\"tok\""));
    let both = settings(true);
    let en = workspace::server(
        Lang::En,
        &ServerView {
            settings: &both,
            ..view
        },
    );
    assert!(!en.contains("Only SSL connections are accepted"), "{en}");
    assert!(en.contains("<td>143</td><td>STARTTLS</td>"));
}

#[test]
fn pages_escape_what_users_and_clients_chose() {
    let page = workspace::sign_in(
        Lang::En,
        "t\"ok",
        "<script>@x",
        Some(SignInProblem::WrongPassword),
    );
    assert!(page.contains("value=\"&lt;script&gt;@x\""), "{page}");
    assert!(page.contains("value=\"t&quot;ok\""));
    assert!(page.contains("The email address or the password is wrong."));
    let app = CredentialView {
        id: "0badc0de".into(),
        name: "<b>phone</b>".into(),
        scopes: "imap,smtp".into(),
        created: Some(1_796_040_000),
        last_used: None,
    };
    let view = SecurityView {
        account: "alice@example.com",
        csrf: "tok",
        separate: true,
        web: CredentialView {
            id: "web".into(),
            name: String::new(),
            scopes: "web".into(),
            created: None,
            last_used: None,
        },
        protocol: None,
        apps: vec![app],
        notice: Some(Notice::PasswordRefused(
            "shorter than 10 <characters>".into(),
        )),
        new_app: Some(("<b>phone</b>".into(), "abcde-fghij-klmno-pqrst".into())),
    };
    let page = workspace::security(Lang::De, &view);
    assert!(!page.contains("<b>phone</b>"), "{page}");
    assert!(page.contains("&lt;b&gt;phone&lt;/b&gt;"));
    assert!(page.contains("shorter than 10 &lt;characters&gt;"));
    assert!(page.contains("<td>IMAP, SMTP</td>"));
    assert!(page.contains("2026-11-30 12:00 UTC"));
    assert!(page.contains(">nie<") || page.contains("Zuletzt verwendet: nie"));
    assert!(page.contains("id=\"app-password\">abcde-fghij-klmno-pqrst<"));
    assert!(page.contains("Es ist noch kein Passwort für IMAP, POP3 und SMTP gesetzt."));
}
