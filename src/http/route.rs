//! Routing: which resource a request names on which kind of listener, as a typed [`Route`]
//! with its arguments parsed (form fields, query parameters), and the answers that need no
//! server state (redirects, 404, 405).
//!
//! Pure: this module never does IO and never reads the clock. Whether a workspace request is
//! signed in, and everything that needs the account database, is decided by the service the
//! route is handed to.

use crate::session::Secret;

use super::{Method, Request};

/// What a listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// HTTPS: the workspace, discovery documents, and (when `dav`) CalDAV/CardDAV.
    Https { workspace: bool, dav: bool },
    /// Plain HTTP: public discovery documents, and redirects to `https_base` for the rest.
    /// Never takes a credential.
    Redirect {
        /// `https://host[:port]`, where everything else is sent.
        https_base: String,
    },
    /// The metrics listener: `GET /metrics` only.
    Metrics,
}

/// The page language, from `Accept-Language` (RFC 9110 §12.5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    De,
}

impl Lang {
    /// The preferred of English and German in an `Accept-Language` value (highest q wins;
    /// ties go to the first named); English when neither is named.
    pub fn from_accept_language(value: &str) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for item in value.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1000u16;
            for param in parts {
                if let Some(v) = param.trim().strip_prefix("q=") {
                    q = parse_q(v).unwrap_or(0);
                }
            }
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "de" => Lang::De,
                "en" => Lang::En,
                _ => continue,
            };
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The value for `<html lang>` and `Content-Language`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: u16 = match int {
        "0" => 0,
        "1" => 1,
        _ => return None,
    };
    let frac: u16 = format!("{frac:0<3}").parse().ok()?;
    let q = int * 1000 + frac;
    (q <= 1000).then_some(q)
}

/// A request's destination, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Thunderbird's autoconfig document (`emailaddress` from the query, if given).
    Autoconfig {
        email: Option<String>,
    },
    /// Outlook's POX autodiscover (the request body is the XML request).
    Autodiscover {
        body: Vec<u8>,
    },
    /// Prometheus text exposition.
    Metrics,
    Workspace(Page),
    /// CalDAV/CardDAV at SOGo's URLs: after HTTP Basic authentication.
    Dav(DavRequest),
}

/// A WebDAV request, for the DAV service once its credentials were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavRequest {
    pub method: Method,
    /// The raw request path (percent-encoded).
    pub path: String,
    /// The `Depth` field as sent.
    pub depth: Option<String>,
    /// `Content-Type`, `If-Match` and `If-None-Match` as sent.
    pub content_type: Option<String>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub body: Vec<u8>,
}

/// The workspace's pages and forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// `/`: to the security settings, or to sign-in.
    Home,
    SignInForm,
    /// The sign-in form, posted; the password goes to the driver, never to the service.
    SignIn {
        username: String,
        password: Secret<String>,
    },
    /// After the driver said how the sign-in went.
    SignedIn {
        username: String,
        ok: SignInResult,
    },
    SignOut,
    Security,
    SetProtocolPassword {
        password: Secret<String>,
        repeat: Secret<String>,
    },
    AddAppPassword {
        name: String,
        scopes: Vec<String>,
    },
    RevokeAppPassword {
        id: String,
    },
    Server,
    MobileConfig,
    Stylesheet,
}

/// How a sign-in went, as the driver answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInResult {
    Ok,
    /// Wrong user or password (which, never said).
    Failed,
    /// The account database could not be read, or too many failures lately.
    Unavailable,
    /// The form's CSRF token did not match its cookie (an old or forged form).
    StaleForm,
}

/// What routing decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// For the service.
    To(Route),
    /// Answered here.
    Redirect {
        status: u16,
        location: String,
    },
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
}

/// The workspace's cookie names. `__Host-` (RFC 6265bis §4.1.3.2): only over HTTPS, for this
/// host alone, path `/`.
pub const SESSION_COOKIE: &str = "__Host-ringpost";
/// The sign-in form's double-submit CSRF cookie (there is no session yet to hold a token).
pub const SIGNIN_COOKIE: &str = "__Host-ringpost-signin";

const AUTOCONFIG_WELL_KNOWN: &str = "/.well-known/autoconfig/mail/config-v1.1.xml";
const AUTOCONFIG_HOST: &str = "/mail/config-v1.1.xml";

/// Route `request` on `site`.
pub fn route(site: &Site, request: &Request) -> Routed {
    let path = request.path.as_str();
    let get_like = matches!(request.method, Method::Get | Method::Head);
    match site {
        Site::Metrics => match (path, get_like) {
            ("/metrics", true) => Routed::To(Route::Metrics),
            ("/metrics", false) => Routed::MethodNotAllowed { allow: "GET, HEAD" },
            _ => Routed::NotFound,
        },
        Site::Redirect { https_base } => match path {
            AUTOCONFIG_WELL_KNOWN | AUTOCONFIG_HOST if get_like => autoconfig(request),
            AUTOCONFIG_WELL_KNOWN | AUTOCONFIG_HOST => {
                Routed::MethodNotAllowed { allow: "GET, HEAD" }
            }
            _ => Routed::Redirect {
                // 308 keeps the method and body (RFC 9110 §15.4.9); browsers' GETs take 301.
                status: if get_like { 301 } else { 308 },
                location: format!("{https_base}{}", request.target),
            },
        },
        Site::Https { workspace, dav } => {
            if *dav {
                if let Some(routed) = dav_route(request, path) {
                    return routed;
                }
            }
            https(*workspace, request, path, get_like)
        }
    }
}

fn autoconfig(request: &Request) -> Routed {
    Routed::To(Route::Autoconfig {
        email: request.query_param("emailaddress"),
    })
}

/// DAV's places: the well-known redirects (RFC 6764 §5, to SOGo's root as mailcow does),
/// everything under `/SOGo/dav`, and the WebDAV methods on `/` (clients that start there).
fn dav_route(request: &Request, path: &str) -> Option<Routed> {
    if path == "/.well-known/caldav" || path == "/.well-known/carddav" {
        return Some(Routed::Redirect {
            status: 301,
            location: crate::dav::path::DAV_ROOT.into(),
        });
    }
    let webdav = matches!(
        request.method,
        Method::Propfind | Method::Options | Method::Report
    );
    (path == "/SOGo" || path.starts_with("/SOGo/") || (path == "/" && webdav)).then(|| {
        Routed::To(Route::Dav(DavRequest {
            method: request.method.clone(),
            path: path.to_string(),
            depth: text_header(request, "depth"),
            content_type: text_header(request, "content-type"),
            if_match: text_header(request, "if-match"),
            if_none_match: text_header(request, "if-none-match"),
            body: request.body.clone(),
        }))
    })
}

/// A header field's value as trimmed text (`None` when absent or not UTF-8).
fn text_header(request: &Request, name: &str) -> Option<String> {
    request
        .header(name)
        .and_then(|d| std::str::from_utf8(d).ok())
        .map(|d| d.trim().to_string())
}

fn https(workspace: bool, request: &Request, path: &str, get_like: bool) -> Routed {
    let post = request.method == Method::Post;
    match path {
        AUTOCONFIG_WELL_KNOWN | AUTOCONFIG_HOST if get_like => return autoconfig(request),
        AUTOCONFIG_WELL_KNOWN | AUTOCONFIG_HOST => {
            return Routed::MethodNotAllowed { allow: "GET, HEAD" }
        }
        _ => {}
    }
    if path.eq_ignore_ascii_case("/autodiscover/autodiscover.xml") {
        return if post {
            Routed::To(Route::Autodiscover {
                body: request.body.clone(),
            })
        } else {
            Routed::MethodNotAllowed { allow: "POST" }
        };
    }
    if !workspace {
        return Routed::NotFound;
    }
    let page = |page: Page| Routed::To(Route::Workspace(page));
    let field = |name: &str| request.form_field(name).unwrap_or_default();
    let secret = |name: &str| Secret::new(field(name));
    match (path, get_like, post) {
        ("/", true, _) => page(Page::Home),
        ("/style.css", true, _) => page(Page::Stylesheet),
        ("/signin", true, _) => page(Page::SignInForm),
        ("/signin", _, true) => page(Page::SignIn {
            username: field("username").trim().to_string(),
            password: secret("password"),
        }),
        ("/signout", _, true) => page(Page::SignOut),
        ("/settings/security", true, _) => page(Page::Security),
        ("/settings/security/protocol-password", _, true) => page(Page::SetProtocolPassword {
            password: secret("password"),
            repeat: secret("repeat"),
        }),
        ("/settings/security/app-passwords", _, true) => page(Page::AddAppPassword {
            name: field("name"),
            scopes: request.form_fields("scope"),
        }),
        ("/settings/security/app-passwords/revoke", _, true) => {
            page(Page::RevokeAppPassword { id: field("id") })
        }
        ("/mail/server", true, _) => page(Page::Server),
        ("/mail/ringpost.mobileconfig", true, _) => page(Page::MobileConfig),
        (
            "/"
            | "/style.css"
            | "/settings/security"
            | "/mail/server"
            | "/mail/ringpost.mobileconfig",
            false,
            _,
        ) => Routed::MethodNotAllowed { allow: "GET, HEAD" },
        ("/signin", false, false) => Routed::MethodNotAllowed {
            allow: "GET, HEAD, POST",
        },
        (
            "/signout"
            | "/settings/security/protocol-password"
            | "/settings/security/app-passwords"
            | "/settings/security/app-passwords/revoke",
            _,
            false,
        ) => Routed::MethodNotAllowed { allow: "POST" },
        _ => Routed::NotFound,
    }
}
