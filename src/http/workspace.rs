//! The web workspace's pages (seed 002): sign-in, Settings → Security (the protocol
//! password, app passwords, last use) and Mail → E-Mail-Server (what a mail program needs),
//! in English and German, as server-rendered HTML with one small stylesheet and no script.
//!
//! Pure: each page is a function of a view the service fills in; this module never does IO,
//! never reads the clock and never sees a password (only, once, a generated app password to
//! show). Every form posts its session's CSRF token.

use std::fmt::Write as _;

use super::discovery::{MailSettings, Protocol, Security};
use super::route::Lang;

/// Text made safe for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One credential as the security page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialView {
    pub id: String,
    /// What the user called it (app passwords).
    pub name: String,
    /// `imap,smtp`.
    pub scopes: String,
    /// Unix seconds, if known.
    pub created: Option<i64>,
    pub last_used: Option<i64>,
}

/// What the security page says at its top after a form was posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    ProtocolPasswordSaved,
    PasswordsDiffer,
    /// The password policy's reason (in English: the account layer's words).
    PasswordRefused(String),
    AppPasswordRevoked,
    AppPasswordNameBad,
    NoScopeChosen,
    TooManyCredentials,
    NoSuchCredential,
    /// The account database could not be written: try again.
    Unavailable,
}

/// Settings → Security.
#[derive(Debug, Clone)]
pub struct SecurityView<'a> {
    pub account: &'a str,
    pub csrf: &'a str,
    /// `[auth] protocol_password = "separate"`: the web password is not valid for mail.
    pub separate: bool,
    pub web: CredentialView,
    pub protocol: Option<CredentialView>,
    pub apps: Vec<CredentialView>,
    pub notice: Option<Notice>,
    /// A new app password, shown this once: its name and the password.
    pub new_app: Option<(String, String)>,
}

/// Mail → E-Mail-Server.
#[derive(Debug, Clone)]
pub struct ServerView<'a> {
    pub account: &'a str,
    pub csrf: &'a str,
    pub settings: &'a MailSettings,
}

/// Every string the pages show, in both languages.
struct Words {
    title: &'static str,
    sign_in: &'static str,
    email: &'static str,
    password: &'static str,
    sign_out: &'static str,
    nav_server: &'static str,
    nav_security: &'static str,
    bad_login: &'static str,
    unavailable: &'static str,
    stale_form: &'static str,
    security: &'static str,
    protocol_heading: &'static str,
    protocol_intro: &'static str,
    protocol_hint: &'static str,
    protocol_after: &'static str,
    same_as_web: &'static str,
    protocol_none: &'static str,
    new_password: &'static str,
    repeat_password: &'static str,
    save: &'static str,
    web_heading: &'static str,
    apps_heading: &'static str,
    new_app_heading: &'static str,
    apps_intro: &'static str,
    apps_none: &'static str,
    name: &'static str,
    valid_for: &'static str,
    created: &'static str,
    last_used: &'static str,
    never: &'static str,
    unknown: &'static str,
    revoke: &'static str,
    create: &'static str,
    shown_once: &'static str,
    saved: &'static str,
    differ: &'static str,
    refused: &'static str,
    revoked: &'static str,
    name_bad: &'static str,
    no_scope: &'static str,
    too_many: &'static str,
    no_such: &'static str,
    try_again: &'static str,
    server_heading: &'static str,
    server_intro: &'static str,
    incoming: &'static str,
    outgoing: &'static str,
    server: &'static str,
    port: &'static str,
    connection: &'static str,
    username: &'static str,
    username_note: &'static str,
    password_note: &'static str,
    ssl_only: &'static str,
    profile: &'static str,
    profile_note: &'static str,
    thunderbird: &'static str,
}

const EN: Words = Words {
    title: "Workspace",
    sign_in: "Sign in",
    email: "Email address",
    password: "Password",
    sign_out: "Sign out",
    nav_server: "Mail → Email server",
    nav_security: "Settings → Security",
    bad_login: "The email address or the password is wrong.",
    unavailable: "Signing in is not possible right now. Please try again in a moment.",
    stale_form: "The form had expired. Please sign in again.",
    security: "Security",
    protocol_heading: "Password for IMAP, POP3 and SMTP",
    protocol_intro: "To use IMAP, POP3 or SMTP with a user name and password (without OAuth2), set a password for these protocols here.",
    protocol_hint: "You can choose a new password, or enter your previous password again.",
    protocol_after: "Once saved, this password is valid for IMAP, POP3 and SMTP too.",
    same_as_web: "This server accepts your sign-in password for IMAP, POP3 and SMTP as well; a separate protocol password is kept but not needed.",
    protocol_none: "No password for IMAP, POP3 and SMTP is set yet.",
    new_password: "New password",
    repeat_password: "Repeat the password",
    save: "Save",
    web_heading: "Sign-in password",
    apps_heading: "App passwords",
    new_app_heading: "New app password",
    apps_intro: "A password made by the server for one program or device. It can be revoked on its own; revoking it ends that program's sessions at once.",
    apps_none: "No app passwords.",
    name: "Name",
    valid_for: "Valid for",
    created: "Created",
    last_used: "Last used",
    never: "never",
    unknown: "unknown",
    revoke: "Revoke",
    create: "Create app password",
    shown_once: "Copy it now: it is shown only this once.",
    saved: "The password for IMAP, POP3 and SMTP was saved.",
    differ: "The two passwords differ.",
    refused: "This password cannot be used:",
    revoked: "The app password was revoked.",
    name_bad: "Give the app password a name of 1 to 100 characters.",
    no_scope: "Choose at least one protocol.",
    too_many: "There are too many credentials already; revoke one first.",
    no_such: "That app password no longer exists.",
    try_again: "The change could not be saved. Please try again.",
    server_heading: "Email server",
    server_intro: "Everything your mail program (Outlook, Thunderbird, Apple Mail, …) needs:",
    incoming: "Incoming mail",
    outgoing: "Outgoing mail (SMTP)",
    server: "Server",
    port: "Port",
    connection: "Connection",
    username: "User name",
    username_note: "your email address, always in lower case",
    password_note: "The password is the one set under Settings → Security (or an app password).",
    ssl_only: "Only SSL connections are accepted. TLS (STARTTLS) and unencrypted logins are refused.",
    profile: "Apple configuration profile (iPhone, iPad, Mac)",
    profile_note: "Download, then install it under Settings → General → VPN & Device Management.",
    thunderbird: "Thunderbird finds these settings by itself: enter your email address and password.",
};

const DE: Words = Words {
    title: "Workspace",
    sign_in: "Anmelden",
    email: "E-Mail-Adresse",
    password: "Passwort",
    sign_out: "Abmelden",
    nav_server: "Mail → E-Mail-Server",
    nav_security: "Einstellungen → Sicherheit",
    bad_login: "E-Mail-Adresse oder Passwort sind falsch.",
    unavailable: "Die Anmeldung ist gerade nicht möglich. Bitte versuchen Sie es gleich noch einmal.",
    stale_form: "Das Formular war abgelaufen. Bitte melden Sie sich erneut an.",
    security: "Sicherheit",
    protocol_heading: "Passwort für IMAP, POP3 und SMTP",
    protocol_intro: "Damit Sie IMAP, POP3 oder SMTP ohne OAuth2 nutzen können (klassischer Benutzername/Passwort-Login), setzen Sie hier ein Passwort für diese Protokolle.",
    protocol_hint: "Sie können ein neues Passwort wählen. Alternativ können Sie Ihr bisheriges Passwort erneut eintragen.",
    protocol_after: "Nach dem Speichern ist dieses Passwort auch für IMAP, POP3 und SMTP gültig.",
    same_as_web: "Dieser Server akzeptiert Ihr Anmeldepasswort auch für IMAP, POP3 und SMTP; ein eigenes Protokoll-Passwort wird gespeichert, ist aber nicht nötig.",
    protocol_none: "Es ist noch kein Passwort für IMAP, POP3 und SMTP gesetzt.",
    new_password: "Neues Passwort",
    repeat_password: "Passwort wiederholen",
    save: "Speichern",
    web_heading: "Anmeldepasswort",
    apps_heading: "App-Passwörter",
    new_app_heading: "Neues App-Passwort",
    apps_intro: "Ein vom Server erzeugtes Passwort für ein Programm oder Gerät. Es lässt sich einzeln widerrufen; die Sitzungen dieses Programms enden dann sofort.",
    apps_none: "Keine App-Passwörter.",
    name: "Name",
    valid_for: "Gültig für",
    created: "Erstellt",
    last_used: "Zuletzt verwendet",
    never: "nie",
    unknown: "unbekannt",
    revoke: "Widerrufen",
    create: "App-Passwort erstellen",
    shown_once: "Kopieren Sie es jetzt: Es wird nur dieses eine Mal angezeigt.",
    saved: "Das Passwort für IMAP, POP3 und SMTP wurde gespeichert.",
    differ: "Die beiden Passwörter stimmen nicht überein.",
    refused: "Dieses Passwort kann nicht verwendet werden:",
    revoked: "Das App-Passwort wurde widerrufen.",
    name_bad: "Geben Sie dem App-Passwort einen Namen mit 1 bis 100 Zeichen.",
    no_scope: "Wählen Sie mindestens ein Protokoll.",
    too_many: "Es gibt schon zu viele Zugangsdaten; widerrufen Sie zuerst eines.",
    no_such: "Dieses App-Passwort gibt es nicht mehr.",
    try_again: "Die Änderung konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.",
    server_heading: "E-Mail-Server",
    server_intro: "Alle Angaben für die Konfiguration Ihres Mailprogramms (z. B. Outlook, Thunderbird, Apple Mail):",
    incoming: "Posteingang",
    outgoing: "Postausgang (SMTP)",
    server: "Server",
    port: "Port",
    connection: "Verbindungstyp",
    username: "Benutzername",
    username_note: "Ihre E-Mail-Adresse, immer vollständig in Kleinbuchstaben",
    password_note: "Das Passwort ist das von Ihnen in den Sicherheitseinstellungen gesetzte Passwort (oder ein App-Passwort).",
    ssl_only: "Nur SSL-Verbindungen sind erlaubt. TLS (STARTTLS) oder unverschlüsselte Logins werden abgewiesen.",
    profile: "Apple-Konfigurationsprofil (iPhone, iPad, Mac)",
    profile_note: "Herunterladen und unter Einstellungen → Allgemein → VPN und Geräteverwaltung installieren.",
    thunderbird: "Thunderbird findet diese Angaben selbst: Geben Sie Ihre E-Mail-Adresse und Ihr Passwort ein.",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
    }
}

/// The stylesheet every page links (`/style.css`).
pub const STYLESHEET: &str = "\
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header a[aria-current]{text-decoration:underline}
header form{margin-left:auto}header .who{opacity:.8}
main{max-width:46rem;margin:1.5rem auto;padding:0 1rem}
section{background:#fff;border-radius:6px;padding:1rem 1.2rem;margin-bottom:1.2rem;box-shadow:0 1px 2px #0002}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:0}
label{display:block;margin:.5rem 0 .2rem}
input[type=text],input[type=email],input[type=password]{width:100%;max-width:22rem;padding:.4rem;box-sizing:border-box}
button{padding:.4rem .9rem;margin-top:.6rem;cursor:pointer}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}td,th{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #e3e5ea}
.notice{padding:.6rem .8rem;border-radius:4px;background:#e7f4e4}.error{background:#fbe4e4}
.secret{font-family:monospace;font-size:1.3rem;letter-spacing:.05em;background:#fff6d6;padding:.4rem .6rem}
.scopes label{display:inline;margin-right:.8rem}
";

/// A whole page: `body` inside the layout, with the navigation when signed in.
fn layout(lang: Lang, heading: &str, signed_in: Option<(&str, &str, Nav)>, body: &str) -> String {
    let w = words(lang);
    let mut out = String::with_capacity(body.len() + 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} – {}</title><link rel=\"stylesheet\" href=\"/style.css\"></head><body><header>\
         <strong>ringpost</strong>",
        lang.code(),
        escape(heading),
        w.title
    );
    if let Some((account, csrf, nav)) = signed_in {
        let current = |n: Nav| {
            if n == nav {
                " aria-current=\"page\""
            } else {
                ""
            }
        };
        let _ = write!(
            out,
            "<a href=\"/mail/server\"{}>{}</a><a href=\"/settings/security\"{}>{}</a>\
             <form method=\"post\" action=\"/signout\"><span class=\"who\">{}</span> \
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>{}</button></form>",
            current(Nav::Server),
            w.nav_server,
            current(Nav::Security),
            w.nav_security,
            escape(account),
            escape(csrf),
            w.sign_out
        );
    }
    let _ = writeln!(out, "</header><main>{body}</main></body></html>");
    out
}

/// Which page the navigation marks as current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nav {
    Server,
    Security,
}

/// Why the sign-in page is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInProblem {
    WrongPassword,
    Unavailable,
    StaleForm,
}

/// The sign-in page; `csrf` is also set as the sign-in cookie.
pub fn sign_in(lang: Lang, csrf: &str, username: &str, problem: Option<SignInProblem>) -> String {
    let w = words(lang);
    let mut body = format!("<section><h1>{}</h1>", w.sign_in);
    if let Some(problem) = problem {
        let text = match problem {
            SignInProblem::WrongPassword => w.bad_login,
            SignInProblem::Unavailable => w.unavailable,
            SignInProblem::StaleForm => w.stale_form,
        };
        let _ = write!(body, "<p class=\"notice error\" role=\"alert\">{text}</p>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/signin\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"username\">{}</label>\
         <input type=\"email\" id=\"username\" name=\"username\" value=\"{}\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">{}</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <div><button type=\"submit\">{}</button></div></form></section>",
        escape(csrf),
        w.email,
        escape(username),
        w.password,
        w.sign_in
    );
    layout(lang, w.sign_in, None, &body)
}

fn when(secs: Option<i64>, missing: &str) -> String {
    match secs {
        Some(t) => {
            let stamp = crate::date::rfc3339(t);
            // `2026-12-05T11:34:14Z` → `2026-12-05 11:34 UTC`.
            let short = stamp.get(..16).unwrap_or(&stamp).replace('T', " ");
            format!("<time datetime=\"{stamp}\">{short} UTC</time>")
        }
        None => missing.to_string(),
    }
}

/// Settings → Security.
pub fn security(lang: Lang, view: &SecurityView<'_>) -> String {
    let w = words(lang);
    let mut body = format!("<h1>{}</h1>", w.security);
    if let Some(notice) = &view.notice {
        let (text, error) = match notice {
            Notice::ProtocolPasswordSaved => (w.saved.to_string(), false),
            Notice::PasswordsDiffer => (w.differ.to_string(), true),
            Notice::PasswordRefused(why) => (format!("{} {}", w.refused, escape(why)), true),
            Notice::AppPasswordRevoked => (w.revoked.to_string(), false),
            Notice::AppPasswordNameBad => (w.name_bad.to_string(), true),
            Notice::NoScopeChosen => (w.no_scope.to_string(), true),
            Notice::TooManyCredentials => (w.too_many.to_string(), true),
            Notice::NoSuchCredential => (w.no_such.to_string(), true),
            Notice::Unavailable => (w.try_again.to_string(), true),
        };
        let class = if error { "notice error" } else { "notice" };
        let _ = write!(body, "<p class=\"{class}\" role=\"status\">{text}</p>");
    }
    if let Some((name, password)) = &view.new_app {
        let _ = write!(
            body,
            "<section id=\"new-app-password\"><h2>{}</h2><p>{}</p>\
             <p class=\"secret\" id=\"app-password\">{}</p><p>{}</p></section>",
            w.new_app_heading,
            escape(name),
            escape(password),
            w.shown_once
        );
    }
    // The protocol password: seed 002's "Passwort-Einrichtung".
    let _ = write!(
        body,
        "<section id=\"protocol\"><h2>{}</h2><p>{}</p>",
        w.protocol_heading, w.protocol_intro
    );
    if !view.separate {
        let _ = write!(body, "<p>{}</p>", w.same_as_web);
    }
    match &view.protocol {
        Some(p) => {
            let _ = write!(
                body,
                "<p id=\"protocol-state\">{}: {} · {}: {}</p>",
                w.created,
                when(p.created, w.unknown),
                w.last_used,
                when(p.last_used, w.never)
            );
        }
        None => {
            let _ = write!(body, "<p id=\"protocol-state\">{}</p>", w.protocol_none);
        }
    }
    let _ = write!(
        body,
        "<p>{}</p><form method=\"post\" action=\"/settings/security/protocol-password\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"text\" name=\"username\" value=\"{}\" autocomplete=\"username\" hidden>\
         <label for=\"pp\">{}</label><input type=\"password\" id=\"pp\" name=\"password\" autocomplete=\"new-password\" required>\
         <label for=\"pp2\">{}</label><input type=\"password\" id=\"pp2\" name=\"repeat\" autocomplete=\"new-password\" required>\
         <div><button type=\"submit\">{}</button></div></form><p>{}</p></section>",
        w.protocol_hint,
        escape(view.csrf),
        escape(view.account),
        w.new_password,
        w.repeat_password,
        w.save,
        w.protocol_after
    );
    // App passwords.
    let _ = write!(
        body,
        "<section id=\"apps\"><h2>{}</h2><p>{}</p>",
        w.apps_heading, w.apps_intro
    );
    if view.apps.is_empty() {
        let _ = write!(body, "<p>{}</p>", w.apps_none);
    } else {
        let _ = write!(
            body,
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>",
            w.name, w.valid_for, w.created, w.last_used
        );
        for app in &view.apps {
            let _ = write!(
                body,
                "<tr data-id=\"{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                 <form method=\"post\" action=\"/settings/security/app-passwords/revoke\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{id}\">\
                 <button type=\"submit\">{}</button></form></td></tr>",
                escape(&app.name),
                escape(&app.scopes.to_ascii_uppercase().replace(',', ", ")),
                when(app.created, w.unknown),
                when(app.last_used, w.never),
                escape(view.csrf),
                w.revoke,
                id = escape(&app.id),
            );
        }
        body.push_str("</tbody></table>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/settings/security/app-passwords\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"app-name\">{}</label><input type=\"text\" id=\"app-name\" name=\"name\" maxlength=\"100\" required>\
         <p class=\"scopes\">{}: ",
        escape(view.csrf),
        w.name,
        w.valid_for
    );
    for scope in ["imap", "pop3", "smtp", "dav"] {
        let _ = write!(
            body,
            "<label><input type=\"checkbox\" name=\"scope\" value=\"{scope}\" checked> {}</label>",
            scope.to_ascii_uppercase()
        );
    }
    let _ = write!(
        body,
        "</p><div><button type=\"submit\">{}</button></div></form></section>",
        w.create
    );
    // The sign-in password: when set and last used.
    let _ = write!(
        body,
        "<section id=\"web\"><h2>{}</h2><p>{}: {} · {}: {}</p></section>",
        w.web_heading,
        w.created,
        when(view.web.created, w.unknown),
        w.last_used,
        when(view.web.last_used, w.never)
    );
    layout(
        lang,
        w.security,
        Some((view.account, view.csrf, Nav::Security)),
        &body,
    )
}

/// Mail → E-Mail-Server, from the live listener configuration.
pub fn server(lang: Lang, view: &ServerView<'_>) -> String {
    let w = words(lang);
    let s = view.settings;
    let mut body = format!(
        "<h1>{}</h1><section><p>{}</p>",
        w.server_heading, w.server_intro
    );
    let mut table = |heading: &str, protocols: &[Protocol], id: &str| {
        let _ = write!(
            body,
            "<h2>{heading}</h2><table id=\"{id}\"><thead><tr><th></th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            w.server, w.port, w.connection
        );
        for protocol in protocols {
            for e in s.endpoints_for(*protocol) {
                let security = match e.security {
                    Security::Ssl => "SSL",
                    Security::StartTls => "STARTTLS",
                };
                let _ = write!(
                    body,
                    "<tr><th>{}</th><td>{}</td><td>{}</td><td>{security}</td></tr>",
                    protocol_name(*protocol),
                    escape(s.hostname()),
                    e.port
                );
            }
        }
        body.push_str("</tbody></table>");
    };
    table(w.incoming, &[Protocol::Imap, Protocol::Pop3], "incoming");
    table(w.outgoing, &[Protocol::Smtp], "outgoing");
    let _ = write!(
        body,
        "<h2>{}</h2><p id=\"username\"><code>{}</code> ({})</p><p>{}</p>",
        w.username,
        escape(&view.account.to_lowercase()),
        w.username_note,
        w.password_note
    );
    if s.endpoints().iter().all(|e| e.security == Security::Ssl) {
        let _ = write!(
            body,
            "<p class=\"notice\" id=\"ssl-only\">⚠ {}</p>",
            w.ssl_only
        );
    }
    let _ = write!(
        body,
        "</section><section><h2>{}</h2><p><a href=\"/mail/ringpost.mobileconfig\" download>ringpost.mobileconfig</a></p><p>{}</p>\
         <h2>Thunderbird</h2><p>{}</p><p><a href=\"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={}\">config-v1.1.xml</a></p></section>",
        w.profile,
        w.profile_note,
        w.thunderbird,
        escape(&percent_encode_query(view.account))
    );
    layout(
        lang,
        w.server_heading,
        Some((view.account, view.csrf, Nav::Server)),
        &body,
    )
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Imap => "IMAP",
        Protocol::Pop3 => "POP3",
        Protocol::Smtp => "SMTP",
    }
}

/// `text` for a query value: unreserved characters as they are, the rest `%XX`.
fn percent_encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
