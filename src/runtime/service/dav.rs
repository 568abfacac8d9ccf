//! CalDAV and CardDAV for the HTTP service: what a DAV request asks of the server, after the
//! driver checked its credentials (HTTP Basic, scope `dav`). Discovery only so far — OPTIONS
//! and PROPFIND on the roots, the principal, the homes and the default collections — behind
//! `[http] dav = false`: objects, storage, REPORTs and sync come with the rest of issue 17.

use crate::accounts::address_of_key;
use crate::dav::path::DavPath;
use crate::dav::props;
use crate::dav::xml::{parse_propfind, XmlLimits};
use crate::http::route::DavRequest;
use crate::http::{Method, Response};

use super::Context;

/// What every DAV answer says it is (RFC 4918 §10.1, RFC 4791 §5.1, RFC 6352 §6.1).
const DAV_CLASSES: &str = "1, 3, calendar-access, addressbook";
/// The methods served so far.
const ALLOW: &str = "OPTIONS, PROPFIND";

pub(super) fn handle(request: &DavRequest, cx: &Context<'_>) -> Response {
    let Some(account) = cx.account.map(address_of_key) else {
        return Response::error(401, "Unauthorized");
    };
    let Some(place) = DavPath::parse(&request.path) else {
        return Response::error(404, "Not Found");
    };
    // A user sees only their own resources; another's are as absent as a missing one.
    if place.user().is_some_and(|user| user != account) {
        return Response::error(404, "Not Found");
    }
    if !props::exists(&place) {
        return Response::error(404, "Not Found");
    }
    let dav = |r: Response| r.header("DAV", DAV_CLASSES);
    match request.method {
        Method::Options => dav(Response::new(200).header("Allow", ALLOW)),
        Method::Propfind => {
            // RFC 4918 §9.1: no Depth means infinity, which a server may refuse.
            let depth = match request.depth.as_deref() {
                Some("0") => 0,
                Some("1") => 1,
                _ => {
                    return dav(Response::new(403).body(
                        "application/xml; charset=utf-8",
                        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\"><d:propfind-finite-depth/></d:error>",
                    ))
                }
            };
            match parse_propfind(&request.body, &XmlLimits::default()) {
                Ok(asked) => dav(Response::new(207).body(
                    "application/xml; charset=utf-8",
                    props::propfind(&place, depth, account, &asked),
                )),
                Err(e) => Response::error(e.status(), &e.to_string()),
            }
        }
        _ => dav(Response::error(501, "Not Implemented").header("Allow", ALLOW)),
    }
}
