//! The console: a web UI on the admin port under `/console`, server-rendered HTML with inline
//! SVG charts and no script at all, so the Content-Security-Policy forbids scripts outright.
//! It shows what the admin API and `/v1/status` show (resources and their conditions, the
//! delivery log with every attempt, an Integration's call log, SyncJobs, the event catalog)
//! and offers the admin API's actions (retry a delivery, send a test event), authorized the
//! same way ([`session::Gate`]). Assets (one stylesheet) are compiled into the binary.

pub mod chart;
pub mod deliveries;
pub mod html;
pub mod pages;
pub mod session;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::engine::Engine;
use crate::engine::auth::{Access, DeliveryAccess, SUBSCRIPTIONS};
use crate::error_chain::chain;

use session::{CSRF_COOKIE, Gate, SESSION_COOKIE};

/// The Content-Security-Policy of every console response: nothing but this origin's
/// stylesheet and images, no script, no framing, forms only to this origin.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("style.css");

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    /// The engine.
    pub engine: Arc<Engine>,
    /// How tokens are checked.
    pub gate: Gate,
}

/// The console's routes, under `/console`.
pub fn routes(engine: Arc<Engine>, gate: Gate) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::overview))
        .route("/console/style.css", get(style))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/catalog", get(pages::catalog))
        .route("/console/ns/{ns}/{kind}/{name}", get(pages::resource))
        .route(
            "/console/ns/{ns}/webhooksubscriptions/{name}/deliveries/{id}",
            get(deliveries::delivery),
        )
        .route(
            "/console/ns/{ns}/webhooksubscriptions/{name}/deliveries/{id}/retry",
            post(deliveries::retry),
        )
        .route(
            "/console/ns/{ns}/webhooksubscriptions/{name}/test",
            post(deliveries::test),
        )
        .layer(middleware::from_fn(secure_headers))
        .with_state(Console { engine, gate })
}

/// Adds the security headers to every console response.
async fn secure_headers(request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// An HTML response.
pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// An error page (signed in or not), nothing of the data asked for.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<p class=\"error\" id=\"error\">{}</p><p><a href=\"/console/\">Back to the overview</a></p>",
        html::esc(message)
    );
    html(
        status,
        html::page(status.canonical_reason().unwrap_or("Error"), true, &body),
    )
}

/// The signed-in person: their token (from the session cookie) and the CSRF token their
/// forms repeat.
pub struct Viewer {
    token: String,
    /// The CSRF token for this person's forms.
    pub csrf: String,
}

impl Viewer {
    /// The signed-in person, or a redirect to the sign-in page.
    pub fn of(headers: &HeaderMap) -> Result<Self, Box<Response>> {
        let token = session::cookie(headers, SESSION_COOKIE);
        let csrf = session::cookie(headers, CSRF_COOKIE);
        match (token, csrf) {
            (Some(token), Some(csrf)) => Ok(Self {
                token: token.to_owned(),
                csrf: csrf.to_owned(),
            }),
            _ => Err(Box::new(Redirect::to("/console/login").into_response())),
        }
    }

    /// A hidden form field with the CSRF token.
    pub fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            html::esc(&self.csrf)
        )
    }

    /// Whether this person may do `access` on `resource` (a plural such as `webhooksubscriptions`,
    /// `integrations`) in `ns` (object `name`, or any of them when empty); an error page
    /// when not.
    pub async fn may(
        &self,
        console: &Console,
        resource: &'static str,
        ns: &str,
        name: &str,
        access: DeliveryAccess,
    ) -> Result<(), Response> {
        match console
            .gate
            .check(self.token.as_bytes(), resource, ns, name, access)
            .await
        {
            Ok(Access::Allowed) => Ok(()),
            Ok(Access::Unauthenticated) => Err(Redirect::to("/console/login").into_response()),
            Ok(Access::Forbidden) => Err(error_page(
                StatusCode::FORBIDDEN,
                &format!(
                    "You are not allowed to {} {resource} in namespace {ns:?}.",
                    access.verb()
                ),
            )),
            Err(e) => {
                tracing::warn!(error = %chain(&e), "authorizing a console request failed; denied");
                Err(error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The request could not be authorized; retry later.",
                ))
            }
        }
    }

    /// Whether this person may read `ns` at all (no page when not).
    pub async fn sees(&self, console: &Console, ns: &str) -> bool {
        matches!(
            console
                .gate
                .check(
                    self.token.as_bytes(),
                    SUBSCRIPTIONS,
                    ns,
                    "",
                    DeliveryAccess::Read
                )
                .await,
            Ok(Access::Allowed)
        )
    }
}

/// A form carrying only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The CSRF token.
    pub csrf: Option<String>,
}

/// Checks a POST (Origin, CSRF) and that its sender is signed in.
pub fn post_viewer(headers: &HeaderMap, form_csrf: Option<&str>) -> Result<Viewer, Box<Response>> {
    session::check_post(headers, form_csrf)
        .map_err(|r| Box::new(error_page(StatusCode::FORBIDDEN, r.message())))?;
    Viewer::of(headers)
}

async fn login_page(headers: HeaderMap) -> Response {
    let csrf = session::cookie(&headers, CSRF_COOKIE)
        .map(str::to_owned)
        .unwrap_or_else(session::new_csrf);
    login_form(StatusCode::OK, &csrf, None)
}

fn login_form(status: StatusCode, csrf: &str, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!("<p class=\"error\" id=\"error\">{}</p>", html::esc(p)))
        .unwrap_or_default();
    let body = format!(
        "{problem}<form method=\"post\" action=\"/console/login\" class=\"login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" required></label>\
         <button id=\"sign-in\">Sign in</button></form>\
         <p class=\"hint\">In a cluster: your Kubernetes bearer token (<code>kubectl create token NAME</code>). \
         Standalone: the admin token printed at start, or the one given with <code>--console-token</code>.</p>",
        html::esc(csrf)
    );
    let mut response = html(status, html::page("Sign in", false, &body));
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(CSRF_COOKIE, csrf)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The sign-in form.
#[derive(Deserialize)]
struct LoginForm {
    csrf: Option<String>,
    token: String,
}

async fn login(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(r) = session::check_post(&headers, form.csrf.as_deref()) {
        return error_page(StatusCode::FORBIDDEN, r.message());
    }
    let token = form.token.trim();
    let csrf = session::new_csrf();
    // A token is valid when the gate knows who it is: allowed or forbidden somewhere.
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_graphic())
        && matches!(
            console
                .gate
                .check(
                    token.as_bytes(),
                    SUBSCRIPTIONS,
                    "",
                    "",
                    DeliveryAccess::Read
                )
                .await,
            Ok(Access::Allowed | Access::Forbidden)
        );
    if !valid {
        return login_form(
            StatusCode::UNAUTHORIZED,
            &csrf,
            Some("That token is not valid."),
        );
    }
    let mut response = Redirect::to("/console/").into_response();
    for cookie in [
        session::set_cookie(SESSION_COOKIE, token),
        session::set_cookie(CSRF_COOKIE, &csrf),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

async fn logout(headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let Err(r) = session::check_post(&headers, form.csrf.as_deref()) {
        return error_page(StatusCode::FORBIDDEN, r.message());
    }
    let mut response = Redirect::to("/console/login").into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        if let Ok(v) = HeaderValue::from_str(&session::set_cookie(name, "")) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}
