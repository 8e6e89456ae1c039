//! The OpenAPI document (`/openapi.json`) and the reference page (`/docs`):
//! the document is valid OpenAPI 3.1, names exactly the routes the server
//! serves (read from the route source, independently of the document), each
//! documented operation reaches a handler, and the page works offline.

use actix_web::dev::Service;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::test as actix_test;
use actix_web::{App, HttpResponse, web};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::to_value(herald_server::openapi::document()).expect("the document serializes")
}

/// `(METHOD, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in HTTP_METHODS {
            if item.get(m).is_some() {
                ops.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// A path with every `{param}` (or actix `{param:regex}`) written `{}`: two
/// templates that match the same requests compare equal.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                depth += 1;
            }
            '}' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A response header's value ("" when absent).
fn header<B>(res: &actix_web::dev::ServiceResponse<B>, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------- validity

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().expect("$ref is a string").to_owned());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn template_params(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .map(|s| s.split('}').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = document();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert!(!doc["paths"].as_object().unwrap().is_empty());

    // Every $ref points into components and resolves.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        assert!(r.starts_with("#/components/"), "external or odd $ref {r}");
        assert!(
            doc.pointer(&r[1..]).is_some(),
            "$ref {r} does not resolve within the document"
        );
    }

    let schemes = &doc["components"]["securitySchemes"];
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "{path}");
        for m in HTTP_METHODS {
            let Some(op) = item.get(m) else { continue };
            let what = format!("{} {path}", m.to_uppercase());
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(!id.is_empty(), "{what}: no operationId");
            assert!(
                operation_ids.insert(id.clone()),
                "{what}: operationId {id} repeated"
            );

            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{what}: no responses");

            // Path parameters: exactly the template's, each required.
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let declared: BTreeSet<String> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{what}: path parameter not required");
                    p["name"].as_str().unwrap().to_owned()
                })
                .collect();
            assert_eq!(declared, template_params(path), "{what}: path parameters");

            // Security: the app token on /v1, the admin token on /admin/v1.
            let scheme = if path.starts_with("/v1/") {
                Some("app_jwt")
            } else if path.starts_with("/admin/v1/") {
                Some("admin_jwt")
            } else {
                None
            };
            if let Some(scheme) = scheme {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{ scheme: [] }]),
                    "{what}: security"
                );
                assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme} scheme");
                // Errors are problem+json `Problem`s; a token can be refused.
                assert!(responses.contains_key("401"), "{what}: no 401");
                for (status, resp) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = resp["content"].as_object();
                        let ok = content.is_some_and(|c| {
                            c.len() == 1
                                && c["application/problem+json"]["schema"]["$ref"]
                                    == "#/components/schemas/Problem"
                        });
                        assert!(ok, "{what} {status}: not a problem+json Problem: {resp}");
                    }
                }
            } else {
                assert!(op.get("security").is_none(), "{what}: unexpected security");
            }
        }
    }

    // The problem shape of crates/herald-server/src/error.rs.
    let problem = &doc["components"]["schemas"]["Problem"];
    let props: BTreeSet<&str> = problem["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        props,
        BTreeSet::from(["type", "title", "status", "detail", "code", "errors"])
    );
    assert_eq!(
        problem["properties"]["errors"]["items"]["$ref"],
        "#/components/schemas/FieldError"
    );
    let field_error = &doc["components"]["schemas"]["FieldError"];
    assert_eq!(
        field_error["required"],
        serde_json::json!(["field", "message"])
    );
}

// ---------------------------------------------------------------- coverage

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first string literal after `from` in `line` (with `\\` unescaped).
fn literal(line: &str, from: usize) -> Option<String> {
    let rest = &line[from..];
    let start = rest.find('"')? + 1;
    let mut out = String::new();
    let mut chars = rest[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// Every `(METHOD, path)` the route source registers, read from the source
/// text alone: actix route macros (`#[get("/…")]`, `#[route("/…", method =
/// "…")]`, under the `/admin/v1` scope in `admin/`), `web::resource("/…")`
/// with its `.route(web::get()…)` calls, and `SwaggerUi::new("/…")`. Any other
/// way of registering a route fails here, so a route cannot slip past this list.
fn served_routes() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let admin_mod = std::fs::read_to_string(src.join("admin/mod.rs")).unwrap();
    let admin_prefix = admin_mod
        .find("scope(\"")
        .and_then(|i| literal(&admin_mod, i))
        .expect("admin/mod.rs registers its scope");
    assert_eq!(admin_prefix, "/admin/v1");

    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut routes = BTreeSet::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).unwrap();
        let prefix = if rel.starts_with("admin/") {
            admin_prefix.as_str()
        } else {
            ""
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (n, line) in lines.iter().enumerate() {
            let at = format!("src/{rel}:{}", n + 1);
            if line.starts_with("//") {
                continue;
            }
            // Actix route macros.
            for m in [
                "get", "post", "put", "patch", "delete", "head", "options", "trace",
            ] {
                if line.starts_with(&format!("#[{m}(\"")) {
                    let path = literal(line, 0).unwrap();
                    routes.insert((m.to_uppercase(), format!("{prefix}{path}")));
                }
            }
            if line.starts_with("#[route(") {
                let path = literal(line, 0).unwrap();
                let mut rest = *line;
                while let Some(i) = rest.find("method = ") {
                    let m = literal(rest, i).unwrap();
                    routes.insert((m, format!("{prefix}{path}")));
                    rest = &rest[i + 9..];
                }
            }
            // A resource and the methods of its `.route(...)` calls.
            if let Some(i) = line.find("web::resource(") {
                let path = literal(line, i).unwrap_or_else(|| panic!("{at}: resource path"));
                let mut methods = 0;
                for next in &lines[n + 1..] {
                    let Some(r) = next.find(".route(web::") else {
                        break;
                    };
                    let m = next[r + 12..].split('(').next().unwrap().to_uppercase();
                    routes.insert((m, format!("{prefix}{path}")));
                    methods += 1;
                }
                assert!(
                    methods > 0,
                    "{at}: a resource without .route(web::<method>()) lines"
                );
            }
            if let Some(i) = line.find("SwaggerUi::new(") {
                let path = literal(line, i).unwrap_or_else(|| panic!("{at}: SwaggerUi path"));
                routes.insert(("GET".to_owned(), format!("{prefix}{path}")));
            }
            // Registrations this reader does not understand.
            let admin_scope = rel == "admin/mod.rs" && line.contains("scope(\"/admin/v1\")");
            for marker in [
                "Resource::new(",
                "web::route(",
                ".route(\"",
                "scope(\"",
                ".to(handle)",
            ] {
                assert!(
                    !line.contains(marker)
                        || (marker == ".to(handle)" && line.contains(".route(web::"))
                        || (marker == "scope(\"" && admin_scope),
                    "{at}: a route registered with `{marker}`: use an actix route macro \
                     with #[utoipa::path], or teach served_routes() about it"
                );
            }
        }
    }
    routes
}

#[test]
fn every_served_route_is_documented_and_no_other() {
    let served: BTreeSet<(String, String)> = served_routes()
        .into_iter()
        .map(|(m, p)| (m, shape(&p)))
        .collect();
    let documented: BTreeSet<(String, String)> = operations(&document())
        .into_iter()
        .map(|(m, p)| (m, shape(&p)))
        .collect();
    // The scan found the resources it must (guards against a reader that
    // silently finds nothing).
    for must in [
        ("POST", "/v1/actions"),
        ("GET", "/admin/v1/apps/{}"),
        ("GET", "/{}"),
        ("POST", "/{}"),
        ("GET", "/openapi.json"),
        ("GET", "/docs/{}"),
    ] {
        assert!(
            served.contains(&(must.0.to_owned(), must.1.to_owned())),
            "route scan missed {must:?}"
        );
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in the document: {undocumented:?}\nin the document but not served: {unserved:?}"
    );
    assert_eq!(served.len(), 43, "{served:#?}");
}

/// A request path for a documented template.
fn sample_path(template: &str) -> String {
    template
        .replace("{method}", "socialize.getUserInfo")
        .replace("{file}", "index.html")
        .replace("{code}", "abc123")
        .split('{')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                format!(
                    "x{}",
                    part.split_once('}').map(|(_, rest)| rest).unwrap_or(part)
                )
            }
        })
        .collect()
}

const PATTERN: &str = "x-test-pattern";
const FALLBACK: &str = "x-test-fallback";

/// The server's routes, answering with the pattern of the resource that took
/// each request (or a fallback mark when none did).
macro_rules! probe_service {
    () => {
        actix_test::init_service(
            App::new()
                .wrap_fn(|req, srv| {
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        let pattern = res.request().match_pattern().unwrap_or_default();
                        res.headers_mut().insert(
                            HeaderName::from_static(PATTERN),
                            HeaderValue::from_str(&pattern).unwrap(),
                        );
                        Ok(res)
                    }
                })
                .configure(herald_server::configure)
                .default_service(web::to(|| async {
                    HttpResponse::NotFound()
                        .insert_header((FALLBACK, "1"))
                        .finish()
                })),
        )
        .await
    };
}

#[actix_web::test]
async fn every_documented_operation_reaches_its_route() {
    let app = probe_service!();
    for (method, template) in operations(&document()) {
        let uri = sample_path(&template);
        let req = actix_test::TestRequest::default()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&uri)
            .to_request();
        let res = actix_test::call_service(&app, req).await;
        let what = format!("{method} {template} (as {uri})");
        assert!(
            res.headers().get(FALLBACK).is_none(),
            "{what}: no route took it"
        );
        assert_ne!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{what}");
        let pattern = header(&res, PATTERN);
        assert_eq!(
            shape(&pattern),
            shape(&template),
            "{what}: taken by {pattern}"
        );
    }
}

#[actix_web::test]
async fn openapi_json_is_served_before_the_gigya_surface() {
    let app = probe_service!();
    let res = actix_test::call_service(
        &app,
        actix_test::TestRequest::get()
            .uri("/openapi.json")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, PATTERN), "/openapi.json");
    assert_eq!(header(&res, "content-type"), "application/json");
    let body: Value = serde_json::from_slice(&actix_test::read_body(res).await).unwrap();
    assert!(body.get("errorCode").is_none(), "a Gigya envelope: {body}");
    assert_eq!(body, document());
    // A `<word>.<word>` path that is not the document is still Gigya's.
    let res = actix_test::call_service(
        &app,
        actix_test::TestRequest::get()
            .uri("/openapi.yaml")
            .to_request(),
    )
    .await;
    assert_eq!(shape(&header(&res, PATTERN)), "/{}");
}

// ---------------------------------------------------------------- /docs

/// The `src`/`href` values in an HTML page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            out.push(rest.split('"').next().unwrap().to_owned());
        }
    }
    out
}

#[actix_web::test]
async fn docs_page_and_its_assets_are_served_offline() {
    let app = actix_test::init_service(App::new().configure(herald_server::configure)).await;
    let get = |uri: &str| actix_test::TestRequest::get().uri(uri).to_request();

    let res = actix_test::call_service(&app, get("/docs")).await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&res, "location"), "/docs/");

    let res = actix_test::call_service(&app, get("/docs/")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "content-type").starts_with("text/html"));
    let html = String::from_utf8(actix_test::read_body(res).await.to_vec()).unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let links = links(&html);
    assert!(
        links.iter().any(|l| l.ends_with("swagger-ui-bundle.js")),
        "{links:?}"
    );
    let mut kinds = BTreeMap::new();
    for link in &links {
        assert!(
            !link.contains("//") && !link.starts_with('/'),
            "the page loads {link} from elsewhere"
        );
        let uri = format!("/docs/{}", link.trim_start_matches("./"));
        let res = actix_test::call_service(&app, get(&uri)).await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let ct = header(&res, "content-type");
        let body = actix_test::read_body(res).await;
        assert!(!body.is_empty(), "{uri} is empty");
        if uri.ends_with(".js") || uri.ends_with(".css") {
            let text = String::from_utf8_lossy(&body);
            // No script or stylesheet pulls in another one from a host.
            for needle in ["import(\"http", "@import url(http", "<script src=\"http"] {
                assert!(!text.contains(needle), "{uri} loads {needle}");
            }
        }
        kinds.insert(uri, ct);
    }
    assert!(
        kinds.values().any(|ct| ct.contains("javascript")),
        "{kinds:?}"
    );
    assert!(
        kinds.values().any(|ct| ct.starts_with("text/css")),
        "{kinds:?}"
    );

    // The initializer points Swagger UI at our document, with no validator
    // badge (which would call validator.swagger.io).
    let res = actix_test::call_service(&app, get("/docs/swagger-initializer.js")).await;
    let init = String::from_utf8(actix_test::read_body(res).await.to_vec()).unwrap();
    assert!(init.contains("\"url\": \"/openapi.json\""), "{init}");
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    assert!(
        !init.contains("://"),
        "the initializer names a host: {init}"
    );
}
