//! Admin authentication: `Authorization: Bearer <JWT>` signed (HS256) with the
//! server's admin key. Claims `sub`, `role` (`admin` | `app-admin`), `apps`
//! (the app ids an app-admin manages) and `exp`. An app-admin's view of every
//! other app is a 404, never a 403, so app ids cannot be probed.

use crate::AppState;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::future::{Ready, ready};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    AppAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::AppAdmin => "app-admin",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdminClaims {
    pub sub: String,
    pub role: Role,
    #[serde(default)]
    pub apps: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

/// Signs an admin token (used by `herald admin token`).
pub fn mint(key_b64: &str, claims: &AdminClaims) -> Result<String, String> {
    let key = STANDARD
        .decode(key_b64.trim())
        .map_err(|_| "the admin key is not base64".to_owned())?;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&key),
    )
    .map_err(|e| e.to_string())
}

/// The authenticated operator of an admin request.
#[derive(Clone, Debug)]
pub struct Admin(pub AdminClaims);

impl Admin {
    /// The app ids this operator is limited to; `None` = every app.
    pub fn scope(&self) -> Option<&[String]> {
        match self.0.role {
            Role::Admin => None,
            Role::AppAdmin => Some(&self.0.apps),
        }
    }

    pub fn sees(&self, app_id: &str) -> bool {
        self.scope()
            .is_none_or(|apps| apps.iter().any(|a| a == app_id))
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.0.role {
            Role::Admin => Ok(()),
            Role::AppAdmin => Err(ApiError::Forbidden("this needs the admin role".into())),
        }
    }
}

fn verify(state: &AppState, req: &HttpRequest) -> Result<Admin, ApiError> {
    let unauthorized = |m: &str| ApiError::Unauthorized(m.to_owned());
    let value = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            unauthorized("missing Authorization: Bearer <admin token> (herald admin token)")
        })?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| unauthorized("Authorization must use the Bearer scheme"))?;
    let key = STANDARD
        .decode(state.config.admin_key.expose())
        .map_err(|_| ApiError::internal("the admin key is not base64"))?;
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "sub"]);
    v.validate_aud = false;
    v.leeway = 0;
    let data =
        jsonwebtoken::decode::<AdminClaims>(token.trim(), &DecodingKey::from_secret(&key), &v)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    unauthorized("admin token expired")
                }
                _ => unauthorized("invalid admin token"),
            })?;
    Ok(Admin(data.claims))
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.app_data::<web::Data<AppState>>() {
            Some(state) => verify(state, req),
            None => Err(ApiError::internal("app state missing")),
        })
    }
}
