//! The pages for people: the event list (`/`), the buyer's queue, seat choice
//! and checkout (`/e/{event_id}`), the promoter's dashboard (`/admin`), their
//! stylesheet and scripts (`/assets/{name}`), and e-tickets' QR codes as SVG
//! (`/qr/{code}`), an order by its link (`/o/{order_id}#t=<order token>`:
//! the token stays in the fragment, which browsers never send), and the
//! door's check-in page (`/door/{event_id}`).
//!
//! Everything is embedded in the binary and rendered once. The pages are plain
//! HTML whose scripts call the public v1 API from the same origin; the server
//! only picks the language (`Accept-Language`) and the assets' version.
//! Every answer carries a strict Content-Security-Policy: no inline script, no
//! other origin; the one exception is the page of an event paid through
//! Stripe, whose card form needs Stripe.js and its frames.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use bytes::Bytes;
use guichet_engine::event::EventNumber;
use guichet_engine::spec::ProviderKind;
use hyper::body::Incoming;
use hyper::header::{
    HeaderName, HeaderValue, ACCEPT_LANGUAGE, ALLOW, CACHE_CONTROL, CONTENT_LANGUAGE, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};

use super::app::App;
use super::page_routes::PAGE_ROUTES;
use super::response::HttpResponse;
use super::views;

/// Only this origin's scripts, styles, images and API; nothing inline.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The buyer's page of an event paid through `stripe`: the same, plus what
/// Stripe.js needs for its Payment Element (its script, its frames, its API),
/// as Stripe's own guide lists them. Nothing inline still.
const CARD_FORM_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; \
     script-src 'self' https://js.stripe.com https://*.js.stripe.com; style-src 'self'; img-src 'self'; \
     connect-src 'self' https://api.stripe.com; \
     frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The longest text `/qr/{code}` encodes (a ticket code is 113 characters).
const MAX_QR_TEXT: usize = 256;

/// A file the pages load, served at `/assets/{name}`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "style.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../pages/style.css") },
    Asset {
        name: "common.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/common.js"),
    },
    Asset {
        name: "index.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/index.js"),
    },
    Asset {
        name: "event.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/event.js"),
    },
    Asset {
        name: "hall.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/hall.js"),
    },
    Asset {
        name: "card.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/card.js"),
    },
    Asset {
        name: "admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/admin.js"),
    },
    Asset {
        name: "order.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/order.js"),
    },
    Asset {
        name: "door.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/door.js"),
    },
    Asset {
        name: "pay.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../pages/pay.js"),
    },
    Asset { name: "icon.svg", content_type: "image/svg+xml", body: include_bytes!("../../pages/icon.svg") },
];

/// The HTML pages: templates with `{{lang}}` and `{{v}}` (the assets' version).
const TEMPLATES: [&str; 6] = [
    include_str!("../../pages/index.html"),
    include_str!("../../pages/event.html"),
    include_str!("../../pages/admin.html"),
    include_str!("../../pages/order.html"),
    include_str!("../../pages/pay.html"),
    include_str!("../../pages/door.html"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    Index = 0,
    Event = 1,
    Admin = 2,
    Order = 3,
    /// The test provider's payment page.
    TestPay = 4,
    /// The door's check-in page.
    Door = 5,
}

/// The languages the pages speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En = 0,
    Fr = 1,
}

impl Lang {
    fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }
}

/// A body rendered once, with its entity tag.
struct Rendered {
    body: Bytes,
    etag: HeaderValue,
}

/// Everything the pages serve, rendered at first use.
struct Site {
    version: String,
    pages: Vec<[Rendered; 2]>,
    assets: Vec<Rendered>,
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        // One version for all assets: a page and its scripts always match.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for asset in ASSETS {
            asset.name.hash(&mut hasher);
            asset.body.hash(&mut hasher);
        }
        TEMPLATES.hash(&mut hasher);
        let version = format!("{:016x}", hasher.finish());
        let etag = |tag: String| HeaderValue::from_str(&format!("\"{tag}\"")).expect("an entity tag is ASCII");
        let pages = TEMPLATES
            .iter()
            .enumerate()
            .map(|(index, template)| {
                [Lang::En, Lang::Fr].map(|lang| {
                    let html = template.replace("{{lang}}", lang.tag()).replace("{{v}}", &version);
                    Rendered { body: Bytes::from(html), etag: etag(format!("{version}-{index}-{}", lang.tag())) }
                })
            })
            .collect();
        let assets = ASSETS
            .iter()
            .map(|asset| Rendered {
                body: Bytes::from_static(asset.body),
                etag: etag(format!("{version}-{}", asset.name)),
            })
            .collect();
        Site { version, pages, assets }
    })
}

/// What a path names, if it is a page route.
enum Target<'a> {
    Page(Page),
    /// The queue page of an event id: whether the event exists, and whether
    /// its buyers pay through Stripe's card form.
    EventPage {
        known: bool,
        card_form: bool,
    },
    /// The page of an order reference; `false` when it names no event's order
    /// (whether the order exists is for the API to say, to the token's bearer).
    OrderPage(bool),
    Asset(&'a str),
    Qr(&'a str),
    TestPay(StatusCode),
    /// The door page of an event id: whether the event exists.
    DoorPage(bool),
}

/// Answers a page route, or `None` when the path is not one (the caller then
/// answers 404). Returns the metrics label (the route's entry in
/// `PAGE_ROUTES`) and the response.
pub fn serve(app: &App, request: &Request<Incoming>) -> Option<(&'static str, HttpResponse)> {
    let path = request.uri().path();
    let (label, target) = match path {
        "/" => (PAGE_ROUTES[0], Target::Page(Page::Index)),
        "/admin" => (PAGE_ROUTES[2], Target::Page(Page::Admin)),
        _ => {
            if let Some(id) = path.strip_prefix("/e/") {
                let event = if is_promoter_id(id) { app.engine.event(id) } else { None };
                let card_form =
                    event.as_ref().is_some_and(|e| e.valid.spec.payment_provider() == Some(ProviderKind::Stripe));
                (PAGE_ROUTES[1], Target::EventPage { known: event.is_some(), card_form })
            } else if let Some(id) = path.strip_prefix("/o/") {
                let known = views::parse_ref(id, 'o')
                    .is_some_and(|(number, _)| app.engine.event_by_number(EventNumber(number)).is_some());
                (PAGE_ROUTES[5], Target::OrderPage(known))
            } else if let Some(name) = path.strip_prefix("/assets/") {
                (PAGE_ROUTES[3], Target::Asset(name))
            } else if let Some(code) = path.strip_prefix("/qr/") {
                (PAGE_ROUTES[4], Target::Qr(code))
            } else if let Some(id) = path.strip_prefix("/door/") {
                let known = is_promoter_id(id) && app.engine.event(id).is_some();
                (PAGE_ROUTES[7], Target::DoorPage(known))
            } else if let Some(id) = path.strip_prefix("/pay/test/") {
                // The page itself asks the API about the payment.
                let status = if is_promoter_id(id) { StatusCode::OK } else { StatusCode::NOT_FOUND };
                (PAGE_ROUTES[6], Target::TestPay(status))
            } else {
                return None;
            }
        }
    };
    if request.method() != Method::GET {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "this page only takes GET\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return Some((label, response));
    }
    let response = match target {
        Target::Page(page) => html_page(request, page, StatusCode::OK),
        Target::EventPage { known: true, card_form } => {
            let mut response = html_page(request, Page::Event, StatusCode::OK);
            if card_form {
                // On a 304 too: its headers replace the cached answer's.
                response.headers_mut().insert(
                    HeaderName::from_static("content-security-policy"),
                    HeaderValue::from_static(CARD_FORM_CONTENT_SECURITY_POLICY),
                );
            }
            response
        }
        // The page itself says there is no such event, in the buyer's language.
        Target::EventPage { known: false, .. } => html_page(request, Page::Event, StatusCode::NOT_FOUND),
        Target::OrderPage(true) => html_page(request, Page::Order, StatusCode::OK),
        Target::OrderPage(false) => html_page(request, Page::Order, StatusCode::NOT_FOUND),
        Target::Asset(name) => asset(request, name),
        Target::Qr(code) => qr_svg(code),
        Target::TestPay(status) => html_page(request, Page::TestPay, status),
        Target::DoorPage(known) => {
            let status = if known { StatusCode::OK } else { StatusCode::NOT_FOUND };
            html_page(request, Page::Door, status)
        }
    };
    Some((label, response))
}

fn is_promoter_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The headers every page answer carries.
fn secure(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers
        .insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    let mut response = Response::new(crate::http::response::whole(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    secure(response)
}

/// 304 when the client already has this version.
fn not_modified(request: &Request<Incoming>, etag: &HeaderValue) -> Option<HttpResponse> {
    let given = request.headers().get(IF_NONE_MATCH)?.to_str().ok()?;
    let wanted = etag.to_str().ok()?;
    let matches =
        given.split(',').map(str::trim).any(|tag| tag == wanted || tag == "*" || tag == format!("W/{wanted}"));
    matches.then(|| {
        let mut response = Response::new(crate::http::response::whole(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().insert(ETAG, etag.clone());
        secure(response)
    })
}

fn html_page(request: &Request<Incoming>, page: Page, status: StatusCode) -> HttpResponse {
    let lang = preferred_lang(request.headers().get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    let rendered = &site().pages[page as usize][lang as usize];
    let cacheable = status == StatusCode::OK;
    if cacheable {
        if let Some(response) = not_modified(request, &rendered.etag) {
            return with_vary(response);
        }
    }
    let mut response = Response::new(crate::http::response::whole(rendered.body.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CONTENT_LANGUAGE, HeaderValue::from_static(lang.tag()));
    // Always revalidated: a new binary's page must load its own scripts.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if cacheable {
        headers.insert(ETAG, rendered.etag.clone());
    }
    with_vary(secure(response))
}

fn with_vary(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(VARY, HeaderValue::from_static("Accept-Language"));
    response
}

fn asset(request: &Request<Incoming>, name: &str) -> HttpResponse {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        return plain(StatusCode::NOT_FOUND, "there is no such file\n");
    };
    let site = site();
    let rendered = &site.assets[index];
    if let Some(response) = not_modified(request, &rendered.etag) {
        return response;
    }
    // Pages name their assets with `?v=<version>`: that URL never changes content.
    let versioned = request.uri().query() == Some(&format!("v={}", site.version));
    let mut response = Response::new(crate::http::response::whole(rendered.body.clone()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(ASSETS[index].content_type));
    headers.insert(ETAG, rendered.etag.clone());
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if versioned { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    secure(response)
}

/// A QR code of `code` (an e-ticket's signed code) as SVG.
fn qr_svg(code: &str) -> HttpResponse {
    let valid = (1..=MAX_QR_TEXT).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return plain(StatusCode::NOT_FOUND, "not a ticket code\n");
    }
    match render_qr(code) {
        Some(svg) => {
            let mut response = Response::new(crate::http::response::whole(Bytes::from(svg)));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
            // A code's picture never changes; it is the buyer's, so not in shared caches.
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400, immutable"));
            secure(response)
        }
        None => plain(StatusCode::NOT_FOUND, "this text does not fit in a QR code\n"),
    }
}

/// The SVG of a QR code (error correction M, with its quiet zone), scaled by the page.
pub fn render_qr(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

/// The language the client prefers among those the pages speak (English when
/// it names neither), from an `Accept-Language` header.
pub fn preferred_lang(header: Option<&str>) -> Lang {
    let mut best = (Lang::En, 0u16);
    for item in header.unwrap_or_default().split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .next()
            .map_or(Some(1000), |q| q.trim().parse::<f32>().ok().map(|q| (q.clamp(0.0, 1.0) * 1000.0) as u16));
        let Some(quality) = quality else { continue };
        let primary = tag.split('-').next().unwrap_or_default();
        let lang = if primary.eq_ignore_ascii_case("fr") {
            Lang::Fr
        } else if primary.eq_ignore_ascii_case("en") {
            Lang::En
        } else {
            continue;
        };
        if quality > best.1 {
            best = (lang, quality);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_clients_preference() {
        assert_eq!(preferred_lang(None), Lang::En);
        assert_eq!(preferred_lang(Some("fr-CA,fr;q=0.9,en;q=0.8")), Lang::Fr);
        assert_eq!(preferred_lang(Some("en-US,en;q=0.9,fr;q=0.8")), Lang::En);
        assert_eq!(preferred_lang(Some("de-DE,fr;q=0.5,en;q=0.7")), Lang::En);
        assert_eq!(preferred_lang(Some("de, fr;q=0.1")), Lang::Fr);
        assert_eq!(preferred_lang(Some("es")), Lang::En);
        assert_eq!(preferred_lang(Some("fr;q=bogus, en;q=0.2")), Lang::En);
        assert_eq!(preferred_lang(Some("FR")), Lang::Fr);
    }

    #[test]
    fn every_page_names_its_language_and_versioned_assets_that_exist() {
        let site = site();
        for (index, page) in site.pages.iter().enumerate() {
            for (rendered, lang) in page.iter().zip(["en", "fr"]) {
                let html = std::str::from_utf8(&rendered.body).expect("pages are UTF-8");
                assert!(html.contains(&format!("<html lang=\"{lang}\"")), "page {index} in {lang}");
                assert!(!html.contains("{{"), "page {index}: a placeholder is left");
                assert!(!html.contains("<script>") && !html.contains(" style=\""), "page {index}: nothing inline");
                for part in html.split("/assets/").skip(1) {
                    let name = part.split('?').next().unwrap_or_default();
                    assert!(ASSETS.iter().any(|a| a.name == name), "page {index} loads a missing asset {name}");
                    assert!(
                        part.starts_with(&format!("{name}?v={}", site.version)),
                        "page {index}: {name} unversioned"
                    );
                }
            }
        }
    }

    #[test]
    fn a_ticket_code_renders_as_a_qr_svg() {
        let code = "AQEAAAABAAAAAAAAAAAAAgAAAA.".to_owned() + &"x".repeat(86);
        let svg = render_qr(&code).expect("a ticket code fits");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{}", &svg[..80]);
        assert!(render_qr(&"x".repeat(4000)).is_none(), "too long for a QR code");
    }
}
