//! The HTTP listeners' service: what a routed request needs from the server — the
//! workspace's sessions and the account database, the live listener configuration for the
//! discovery documents, every shard's counters for `/metrics` — turned into a response.
//!
//! Sign-in itself never comes here: the driver checks the password (with the mail
//! protocols' delay and throttling) and only then does the session ask for
//! [`Page::SignedIn`]. Blocking work (the account file, argon2, asking every shard) runs on
//! the executor's blocking pool.

use std::sync::Arc;

use crate::accounts::{
    address_of_key, AccountError, AccountStore, Credential, CredentialKind, ProtocolPasswords,
    Scopes, WEB_CREDENTIAL,
};
use crate::config::{Config, Listener, Protocol, TlsMode};
use crate::http::discovery::{self, EmailAddress, MailSettings, ProfileIds};
use crate::http::route::{Lang, Page, Route, SignInResult, Site, SESSION_COOKIE, SIGNIN_COOKIE};
use crate::http::session::{HttpSession, WebReply, WebRequest};
use crate::http::workspace::{self, CredentialView, Notice, SecurityView, ServerView};
use crate::http::{HttpLimits, Response};
use crate::runtime::web_sessions::{random_token, Lifetimes, RequestTime, WebSession, WebSessions};
use crate::session::{Security, SessionConfig};

use super::{Context, Placement, Service};

/// What a listener's HTTP sessions serve, and their limits.
fn site_and_limits(listener: &Listener, config: &Config) -> (Site, HttpLimits) {
    let site = match (listener.protocol, listener.tls) {
        (Protocol::Metrics, _) => Site::Metrics,
        (_, TlsMode::Implicit) => Site::Https {
            workspace: config.http.workspace,
            dav: config.http.dav,
        },
        _ => Site::Redirect {
            https_base: https_base(config),
        },
    };
    let h = &config.http;
    let limits = HttpLimits {
        max_head_bytes: h.max_header_bytes,
        max_headers: h.max_headers,
        max_target_bytes: h.max_target_bytes,
        max_body_bytes: h.max_body_bytes,
    };
    (site, limits)
}

/// One HTTP connection's service (it holds nothing between requests).
pub struct WebService;

impl Service for WebService {
    type Session = HttpSession;
    // DAV requests work on the account's calendars and address books, which live on its
    // home shard: a connection moves there once its credentials are checked (again if a
    // later request names another account). The workspace and discovery work anywhere.
    const PLACEMENT: Placement = Placement::HomeShard;

    fn session(
        listener: &Listener,
        _session: SessionConfig,
        _security: Security,
        config: &Config,
    ) -> HttpSession {
        let (site, limits) = site_and_limits(listener, config);
        let session = HttpSession::new(site, limits);
        // A cluster host hands DAV requests for accounts other hosts serve to them.
        match config.cluster {
            Some(_) => session.with_handoff(),
            None => session,
        }
    }

    fn resume_session(
        listener: &Listener,
        _session: SessionConfig,
        config: &Config,
        handoff: crate::session::Handoff,
    ) -> Option<HttpSession> {
        let (site, limits) = site_and_limits(listener, config);
        HttpSession::from_handoff(site, limits, handoff)
    }

    fn new() -> Self {
        WebService
    }

    async fn handle(&mut self, request: WebRequest, cx: &Context<'_>) -> WebReply {
        let response = match &request.route {
            Route::Autoconfig { email } => autoconfig(cx, email.as_deref()),
            Route::Autodiscover { body } => autodiscover(cx, body),
            Route::Metrics => metrics(cx).await,
            Route::Dav(dav) => super::dav::handle(dav, cx).await,
            Route::Workspace(page) => with_page_headers(
                workspace_page(page.clone(), &request, cx).await,
                request.lang,
            ),
        };
        WebReply {
            response,
            date: crate::date::http_date(unix_now()),
        }
    }

    async fn next_notice(&mut self) -> std::convert::Infallible {
        std::future::pending().await
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `https://host[:port]` of the first HTTPS listener (the port left out when it is 443).
fn https_base(config: &Config) -> String {
    let port = config
        .listeners
        .iter()
        .find(|l| l.protocol == Protocol::Http && l.tls == TlsMode::Implicit)
        .map_or(443, |l| l.address.port());
    match port {
        443 => format!("https://{}", config.http.public_host),
        port => format!("https://{}:{port}", config.http.public_host),
    }
}

/// The mail settings for `domain` (one of ours), from the live configuration.
fn settings(config: &Config, domain: &str) -> Option<MailSettings> {
    if !config.local_domains.iter().any(|d| d == domain) {
        return None;
    }
    MailSettings::from_config(config, domain).ok()
}

fn xml(body: String) -> Response {
    Response::new(200)
        .header("Cache-Control", "no-cache")
        .body("application/xml; charset=utf-8", body)
}

/// Thunderbird's autoconfig: for the address's domain, or the first local domain.
fn autoconfig(cx: &Context<'_>, email: Option<&str>) -> Response {
    let server = cx.shard.server();
    let config = &server.config;
    let email = match email.map(EmailAddress::parse) {
        Some(Ok(e)) => Some(e),
        Some(Err(_)) => return Response::error(400, "Bad emailaddress"),
        None => None,
    };
    let domain = match &email {
        Some(e) => e.domain().to_string(),
        None => config.local_domains.first().cloned().unwrap_or_default(),
    };
    match settings(config, &domain) {
        Some(s) => xml(discovery::thunderbird_autoconfig(&s, email.as_ref())),
        None => Response::error(404, "Not Found"),
    }
}

/// Outlook's POX autodiscover (answers are 200 with an `Error` element when the request
/// is bad, as Exchange does).
fn autodiscover(cx: &Context<'_>, body: &[u8]) -> Response {
    let server = cx.shard.server();
    let config = &server.config;
    match discovery::parse_autodiscover_request(body) {
        Ok(email) => match settings(config, email.domain()) {
            Some(s) => xml(discovery::autodiscover_response(&s, &email)),
            None => Response::error(404, "Not Found"),
        },
        Err(e) => xml(discovery::autodiscover_error_response(&e)),
    }
}

async fn metrics(cx: &Context<'_>) -> Response {
    let jobs = cx.shard.server().jobs.clone();
    let text = glommio::executor()
        .spawn_blocking(move || jobs.metrics())
        .await;
    match text {
        Ok(text) => Response::new(200).body("text/plain; version=0.0.4; charset=utf-8", text),
        Err(e) => {
            tracing::warn!(error = %e, "metrics scrape failed");
            Response::error(503, "Service Unavailable")
        }
    }
}

/// Headers on every workspace response: nothing cached (unless it said otherwise: the
/// stylesheet), no script, no framing, no referrer.
fn with_page_headers(response: Response, lang: Lang) -> Response {
    let cached = response
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("cache-control"));
    let response = if cached {
        response
    } else {
        response.header("Cache-Control", "no-store")
    };
    response
        .header("Content-Language", lang.code())
        .header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        )
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header("Strict-Transport-Security", "max-age=31536000")
}

fn see_other(location: &str) -> Response {
    Response::new(303)
        .header("Location", location.to_string())
        .body("text/plain; charset=utf-8", "See Other\n")
}

fn html(page: String) -> Response {
    Response::new(200).body("text/html; charset=utf-8", page)
}

fn cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}")
}

fn lifetimes(config: &Config) -> Lifetimes {
    Lifetimes {
        idle: config.http.session_idle,
        max: config.http.session_max,
        max_sessions: config.http.max_sessions,
    }
}

/// The sign-in form, with a fresh double-submit token in its cookie.
fn sign_in_form(lang: Lang, username: &str, problem: Option<workspace::SignInProblem>) -> Response {
    let token = random_token();
    html(workspace::sign_in(lang, &token, username, problem))
        .header("Set-Cookie", cookie(SIGNIN_COOKIE, &token, Some(3600)))
}

async fn blocking<T: Send + 'static>(
    accounts: &Arc<AccountStore>,
    work: impl FnOnce(&AccountStore) -> T + Send + 'static,
) -> T {
    let accounts = accounts.clone();
    glommio::executor()
        .spawn_blocking(move || work(&accounts))
        .await
}

/// Run `work` on the workspace's sessions: on the blocking pool when they are in the
/// database, here when they are in memory (a lock, no waiting).
async fn with_sessions<T: Send + 'static>(
    server: &Arc<crate::runtime::net::ServerContext>,
    work: impl FnOnce(&WebSessions, &AccountStore) -> T + Send + 'static,
) -> T {
    if WebSessions::blocks(&server.accounts) {
        let sessions = server.web_sessions.clone();
        blocking(&server.accounts, move |a| work(&sessions, a)).await
    } else {
        work(&server.web_sessions, &server.accounts)
    }
}

fn unavailable() -> Response {
    Response::error(503, "The account database is unavailable; try again")
}

async fn workspace_page(page: Page, request: &WebRequest, cx: &Context<'_>) -> Response {
    let server = cx.shard.server();
    let config = &server.config;
    let lang = request.lang;
    let now = RequestTime::now();
    let lifetimes = lifetimes(config);
    let token = request.session.clone();
    match page {
        Page::Stylesheet => {
            return Response::new(200)
                .header("Cache-Control", "max-age=3600")
                .body("text/css; charset=utf-8", workspace::STYLESHEET)
        }
        Page::SignedIn { username, ok } => {
            let problem = match ok {
                SignInResult::Ok => None,
                SignInResult::Failed => Some(workspace::SignInProblem::WrongPassword),
                SignInResult::Unavailable => Some(workspace::SignInProblem::Unavailable),
                SignInResult::StaleForm => Some(workspace::SignInProblem::StaleForm),
            };
            if let Some(problem) = problem {
                return sign_in_form(lang, &username, Some(problem));
            }
            // The driver verified the password and keeps what it verified.
            let (Some(key), Some(credential)) = (cx.account, cx.credential) else {
                return sign_in_form(lang, &username, Some(workspace::SignInProblem::Unavailable));
            };
            let account = address_of_key(key).to_string();
            let credential = credential.clone();
            let started = with_sessions(&server, move |sessions, accounts| {
                if let Some(old) = token {
                    sessions.end(accounts, &old)?;
                }
                sessions.start(accounts, &account, credential, now, &lifetimes)
            })
            .await;
            return match started {
                Ok((new, _)) => see_other("/settings/security")
                    .header("Set-Cookie", cookie(SESSION_COOKIE, &new, None))
                    .header("Set-Cookie", cookie(SIGNIN_COOKIE, "", Some(0))),
                Err(e) => {
                    // Nobody is signed in without a session kept where every host finds it.
                    tracing::error!(error = %e, "cannot start a workspace session");
                    sign_in_form(lang, &username, Some(workspace::SignInProblem::Unavailable))
                }
            };
        }
        _ => {}
    }
    // The browser's session, if it is alive and its credential still current.
    let session = match token.clone() {
        None => Ok(None),
        Some(t) => {
            with_sessions(&server, move |sessions, accounts| {
                sessions.current(accounts, &t, now, &lifetimes)
            })
            .await
        }
    };
    let session = match session {
        Ok(session) => session,
        Err(e) => {
            tracing::error!(error = %e, "cannot find the workspace session");
            return match page {
                Page::SignInForm => {
                    sign_in_form(lang, "", Some(workspace::SignInProblem::Unavailable))
                }
                _ => unavailable(),
            };
        }
    };
    match page {
        Page::Home => {
            return see_other(if session.is_some() {
                "/settings/security"
            } else {
                "/signin"
            })
        }
        Page::SignInForm => {
            return match session {
                Some(_) => see_other("/settings/security"),
                None => sign_in_form(lang, "", None),
            }
        }
        _ => {}
    }
    let Some(session) = session else {
        return see_other("/signin");
    };
    let posted = matches!(
        page,
        Page::SignOut
            | Page::SetProtocolPassword { .. }
            | Page::AddAppPassword { .. }
            | Page::RevokeAppPassword { .. }
    );
    if posted && request.csrf.as_deref() != Some(session.csrf.as_str()) {
        return Response::error(403, "Forbidden: the form is stale; reload the page");
    }
    match page {
        Page::SignOut => {
            let ended = match token {
                Some(t) => {
                    with_sessions(&server, move |sessions, accounts| {
                        sessions.end(accounts, &t)
                    })
                    .await
                }
                None => Ok(()),
            };
            match ended {
                Ok(()) => see_other("/signin"),
                Err(e) => {
                    // The browser forgets the cookie all the same; the session may live on
                    // until it expires, so say so rather than pretend.
                    tracing::error!(account = %session.account, error = %e, "cannot end the workspace session");
                    unavailable()
                }
            }
            .header("Set-Cookie", cookie(SESSION_COOKIE, "", Some(0)))
        }
        Page::Security => security_page(lang, &session, config, &server.accounts, None, None).await,
        Page::SetProtocolPassword { password, repeat } => {
            let notice = if password.expose() != repeat.expose() {
                Notice::PasswordsDiffer
            } else {
                let account = session.account.clone();
                let password = password.expose().clone();
                let set = blocking(&server.accounts, move |a| {
                    a.set_protocol_password(&account, &password)
                })
                .await;
                match set {
                    Ok(_) => {
                        tracing::info!(target: "ringpost::workspace", account = %session.account, "protocol password set");
                        Notice::ProtocolPasswordSaved
                    }
                    Err(AccountError::BadPassword(why)) => Notice::PasswordRefused(why.into()),
                    Err(AccountError::WeakPassword(why)) => Notice::PasswordRefused(why),
                    Err(e) => {
                        tracing::error!(account = %session.account, error = %e, "cannot set protocol password");
                        Notice::Unavailable
                    }
                }
            };
            security_page(lang, &session, config, &server.accounts, Some(notice), None).await
        }
        Page::AddAppPassword { name, scopes } => {
            let scopes = Scopes::parse(&scopes.join(","))
                .filter(|s| !s.contains(crate::accounts::Scope::Web));
            let (notice, shown) = match scopes {
                None => (Some(Notice::NoScopeChosen), None),
                Some(scopes) => {
                    let account = session.account.clone();
                    let n = name.clone();
                    let made = blocking(&server.accounts, move |a| {
                        a.add_app_password(&account, &n, scopes)
                    })
                    .await;
                    match made {
                        Ok((credential, password)) => {
                            tracing::info!(target: "ringpost::workspace", account = %session.account, id = %credential.id, "app password added");
                            (None, Some((credential.name, password.0)))
                        }
                        Err(AccountError::BadName) => (Some(Notice::AppPasswordNameBad), None),
                        Err(AccountError::TooManyCredentials) => {
                            (Some(Notice::TooManyCredentials), None)
                        }
                        Err(e) => {
                            tracing::error!(account = %session.account, error = %e, "cannot add app password");
                            (Some(Notice::Unavailable), None)
                        }
                    }
                }
            };
            security_page(lang, &session, config, &server.accounts, notice, shown).await
        }
        Page::RevokeAppPassword { id } => {
            let account = session.account.clone();
            let revoked = blocking(&server.accounts, move |a| {
                // Only app passwords from here: the web password is changed, not revoked.
                let is_app = a
                    .credentials(&account, ProtocolPasswords::Separate)?
                    .iter()
                    .any(|c| c.id.eq_ignore_ascii_case(&id) && c.kind == CredentialKind::App);
                if !is_app {
                    return Err(AccountError::NoSuchCredential(id));
                }
                a.revoke(&account, &id)
            })
            .await;
            let notice = match revoked {
                Ok(c) => {
                    tracing::info!(target: "ringpost::workspace", account = %session.account, id = %c.id, "app password revoked");
                    Notice::AppPasswordRevoked
                }
                Err(AccountError::NoSuchCredential(_)) => Notice::NoSuchCredential,
                Err(e) => {
                    tracing::error!(account = %session.account, error = %e, "cannot revoke app password");
                    Notice::Unavailable
                }
            };
            security_page(lang, &session, config, &server.accounts, Some(notice), None).await
        }
        Page::Server => {
            let domain = session.account.rsplit('@').next().unwrap_or("");
            match settings(config, domain) {
                Some(settings) => html(workspace::server(
                    lang,
                    &ServerView {
                        account: &session.account,
                        csrf: &session.csrf,
                        settings: &settings,
                    },
                )),
                None => Response::error(503, "No mail listeners are configured"),
            }
        }
        Page::MobileConfig => {
            let domain = session.account.rsplit('@').next().unwrap_or("");
            let email = EmailAddress::parse(&session.account);
            match (settings(config, domain), email) {
                (Some(settings), Ok(email)) => {
                    let ids = ProfileIds::for_account(settings.hostname(), &email);
                    Response::new(200)
                        .header(
                            "Content-Disposition",
                            "attachment; filename=\"ringpost.mobileconfig\"",
                        )
                        .body(
                            "application/x-apple-aspen-config",
                            discovery::apple_mobileconfig(&settings, &email, ids),
                        )
                }
                _ => Response::error(503, "No mail listeners are configured"),
            }
        }
        // Answered above.
        Page::Stylesheet
        | Page::Home
        | Page::SignInForm
        | Page::SignIn { .. }
        | Page::SignedIn { .. } => Response::error(404, "Not Found"),
    }
}

fn view(c: &Credential, used: &std::collections::HashMap<String, u64>) -> CredentialView {
    let secs = |t: u64| i64::try_from(t).ok();
    CredentialView {
        id: c.id.clone(),
        name: c.name.clone(),
        scopes: c.scopes.to_string(),
        created: (c.created != 0).then(|| secs(c.created)).flatten(),
        last_used: used.get(&c.id).and_then(|t| secs(*t)),
    }
}

async fn security_page(
    lang: Lang,
    session: &WebSession,
    config: &Config,
    accounts: &Arc<AccountStore>,
    notice: Option<Notice>,
    new_app: Option<(String, String)>,
) -> Response {
    let account = session.account.clone();
    let mode = config.protocol_passwords;
    let listed = blocking(accounts, move |a| {
        Ok::<_, AccountError>((a.credentials(&account, mode)?, a.last_uses(&account)?))
    })
    .await;
    let (credentials, used) = match listed {
        Ok(listed) => listed,
        Err(e) => {
            tracing::error!(account = %session.account, error = %e, "cannot list credentials");
            return unavailable();
        }
    };
    let find = |kind: CredentialKind| {
        credentials
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| view(c, &used))
    };
    let web = find(CredentialKind::Web).unwrap_or(CredentialView {
        id: WEB_CREDENTIAL.into(),
        name: String::new(),
        scopes: String::new(),
        created: None,
        last_used: None,
    });
    let view = SecurityView {
        account: &session.account,
        csrf: &session.csrf,
        separate: mode == ProtocolPasswords::Separate,
        web,
        protocol: find(CredentialKind::Protocol),
        apps: credentials
            .iter()
            .filter(|c| c.kind == CredentialKind::App)
            .map(|c| view(c, &used))
            .collect(),
        notice,
        new_app,
    };
    html(workspace::security(lang, &view))
}
