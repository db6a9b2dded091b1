//! IAM Identity Center, answered by the loopback proxy: moto implements neither `sso-oidc` (the
//! device authorization sign-in) nor `sso` (the access portal: accounts, roles, role credentials).
//!
//! The answers follow AWS's documented shapes (the AWS SDK parses them as it parses AWS's):
//! - `sso-oidc`: `POST /client/register` (RegisterClient), `POST /device_authorization`
//!   (StartDeviceAuthorization), `POST /token` (CreateToken, the device code grant polled until the
//!   device is approved, and the refresh token grant);
//! - `sso`: `GET /assignment/accounts` (ListAccounts), `GET /assignment/roles` (ListAccountRoles),
//!   `GET /federation/credentials` (GetRoleCredentials, backed by moto's STS `AssumeRole` into the
//!   account, so the keys act in that account as real portal keys do), `POST /logout`.
//!
//! The browser page a user would approve the device on is stood in for by sandbox-only paths:
//! `GET /_sandbox/sso/device?user_code=…` (a page with an Approve button) and
//! `POST /_sandbox/sso/approve?user_code=…` (what the button, or a test, calls).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};

/// The accounts and permission sets the sandbox's IAM Identity Center assigns to its one user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Directory {
    pub accounts: Vec<Assigned>,
    /// Permission sets assigned in every account (each a role of that name in the portal).
    pub roles: Vec<String>,
    /// How long an access token lasts.
    pub token_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Assigned {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// The permission sets the sandbox offers: a read-only one (what a scan needs) and an admin one.
pub const ROLES: [&str; 2] = ["ReadOnlyAccess", "AdministratorAccess"];

/// The session name and start URL the sandbox's SSO profile names.
pub const SESSION: &str = "sandbox";
pub const START_PATH: &str = "/start";

/// What the proxy remembers of sign-ins.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// client id → secret
    clients: HashMap<String, String>,
    /// device code → the device
    devices: HashMap<String, Device>,
    /// access token → when it lapses
    tokens: HashMap<String, SystemTime>,
    /// refresh token → client id
    refresh: HashMap<String, String>,
    next: u64,
}

#[derive(Debug)]
struct Device {
    user_code: String,
    client_id: String,
    approved: bool,
    expires: SystemTime,
}

impl Sessions {
    /// Every sign-in so far lapses now, as when an administrator ends the user's sessions: access
    /// tokens are refused and refresh tokens no longer renew them.
    pub(crate) fn expire_all(&self) {
        if let Ok(mut g) = self.inner.lock() {
            for t in g.tokens.values_mut() {
                *t = SystemTime::UNIX_EPOCH;
            }
            g.refresh.clear();
        }
    }

    /// Approves the device waiting with `user_code`; `false` when none is.
    pub(crate) fn approve(&self, user_code: &str) -> bool {
        let Ok(mut g) = self.inner.lock() else {
            return false;
        };
        let now = SystemTime::now();
        let mut found = false;
        for d in g.devices.values_mut() {
            if d.user_code.eq_ignore_ascii_case(user_code.trim()) && d.expires > now {
                d.approved = true;
                found = true;
            }
        }
        found
    }

    fn token(&self, g: &mut Inner, lifetime: Duration) -> (String, String) {
        g.next += 1;
        let access = format!("sandbox-access-{}-{}", g.next, random_hex());
        let refresh = format!("sandbox-refresh-{}-{}", g.next, random_hex());
        g.tokens
            .insert(access.clone(), SystemTime::now() + lifetime);
        (access, refresh)
    }

    /// Whether `token` is one this proxy issued and it has not lapsed.
    fn valid(&self, token: &str) -> bool {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.tokens.get(token).copied())
            .is_some_and(|until| until > SystemTime::now())
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

/// A request the SSO emulation may answer.
pub(crate) struct Asked<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub bearer: Option<&'a str>,
    pub body: &'a [u8],
    /// The proxy's own address, for the verification page's URL.
    pub endpoint: &'a str,
}

/// What answering needs from the proxy: role credentials come from the emulator's STS.
pub(crate) enum Answer {
    Ready(Response<Full<Bytes>>),
    /// GetRoleCredentials: assume `role_arn` upstream and answer with its keys.
    AssumeRole {
        role_arn: String,
        session: String,
    },
}

/// Whether the request is for IAM Identity Center (unsigned, on one of its paths).
pub(crate) fn is_sso(path: &str, signed: bool) -> bool {
    !signed
        && matches!(
            path,
            "/client/register"
                | "/device_authorization"
                | "/token"
                | "/assignment/accounts"
                | "/assignment/roles"
                | "/federation/credentials"
                | "/logout"
        )
        || path.starts_with("/_sandbox/sso/")
        || path == START_PATH
}

/// The SSO action a path stands for (what the proxy records).
pub(crate) fn action(path: &str) -> &'static str {
    match path {
        "/client/register" => "RegisterClient",
        "/device_authorization" => "StartDeviceAuthorization",
        "/token" => "CreateToken",
        "/assignment/accounts" => "ListAccounts",
        "/assignment/roles" => "ListAccountRoles",
        "/federation/credentials" => "GetRoleCredentials",
        "/logout" => "Logout",
        _ => "SandboxSignInPage",
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// An error as the service sends it: the type in `x-amzn-errortype`, OAuth's `error` and
/// `error_description` in the body (sso-oidc), `message` (sso).
impl Sessions {
    /// The sign-in state, or the answer for a poisoned lock.
    fn locked(&self) -> Result<std::sync::MutexGuard<'_, Inner>, Box<Answer>> {
        self.inner.lock().map_err(|_| {
            Box::new(Answer::Ready(error(
                500,
                "InternalServerException",
                "server_error",
                "lock",
            )))
        })
    }
}

fn error(status: u16, kind: &str, oauth: &str, message: &str) -> Response<Full<Bytes>> {
    let mut r = json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        &serde_json::json!({ "error": oauth, "error_description": message, "message": message }),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn html(text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// The role a permission set stands for in `account`, as IAM Identity Center names the roles it
/// provisions.
pub fn role_arn(account: &str, permission_set: &str) -> String {
    use sha2::Digest as _;
    let hash = hex::encode(&sha2::Sha256::digest(permission_set.as_bytes())[..8]);
    format!(
        "arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_{permission_set}_{hash}"
    )
}

/// Answers an IAM Identity Center request, or says what to ask the emulator for.
pub(crate) fn answer(dir: &Directory, sessions: &Sessions, req: &Asked<'_>) -> Answer {
    let body: serde_json::Value = serde_json::from_slice(req.body).unwrap_or_default();
    let field = |name: &str| body.get(name).and_then(serde_json::Value::as_str);
    let unauthorized = || {
        Answer::Ready(error(
            401,
            "UnauthorizedException",
            "unauthorized",
            "Session token not found or invalid",
        ))
    };
    match (req.method, req.path) {
        ("POST", "/client/register") => {
            let Some(name) = field("clientName") else {
                return Answer::Ready(error(
                    400,
                    "InvalidRequestException",
                    "invalid_request",
                    "clientName is required",
                ));
            };
            let mut g = match sessions.locked() {
                Ok(g) => g,
                Err(answer) => return *answer,
            };
            g.next += 1;
            let id = format!("sandbox-client-{}-{}", g.next, name.len());
            let secret = random_hex();
            g.clients.insert(id.clone(), secret.clone());
            let now = unix(SystemTime::now());
            Answer::Ready(json(
                StatusCode::OK,
                &serde_json::json!({
                    "clientId": id,
                    "clientSecret": secret,
                    "clientIdIssuedAt": now,
                    "clientSecretExpiresAt": now + 90 * 24 * 3600,
                }),
            ))
        }
        ("POST", "/device_authorization") => {
            let (Some(client), Some(secret)) = (field("clientId"), field("clientSecret")) else {
                return Answer::Ready(error(
                    400,
                    "InvalidRequestException",
                    "invalid_request",
                    "clientId and clientSecret are required",
                ));
            };
            let mut g = match sessions.locked() {
                Ok(g) => g,
                Err(answer) => return *answer,
            };
            if g.clients.get(client).map(String::as_str) != Some(secret) {
                return Answer::Ready(error(
                    401,
                    "InvalidClientException",
                    "invalid_client",
                    "Invalid client provided",
                ));
            }
            g.next += 1;
            let device_code = format!("sandbox-device-{}-{}", g.next, random_hex());
            let raw = random_hex().to_ascii_uppercase();
            let user_code = format!("{}-{}", &raw[..4], &raw[4..8]);
            g.devices.insert(
                device_code.clone(),
                Device {
                    user_code: user_code.clone(),
                    client_id: client.to_owned(),
                    approved: false,
                    expires: SystemTime::now() + Duration::from_secs(600),
                },
            );
            let uri = format!("{}/_sandbox/sso/device", req.endpoint);
            Answer::Ready(json(
                StatusCode::OK,
                &serde_json::json!({
                    "deviceCode": device_code,
                    "userCode": user_code,
                    "verificationUri": uri,
                    "verificationUriComplete": format!("{uri}?user_code={user_code}"),
                    "expiresIn": 600,
                    "interval": 1,
                }),
            ))
        }
        ("POST", "/token") => {
            let client = field("clientId").unwrap_or_default();
            let mut g = match sessions.locked() {
                Ok(g) => g,
                Err(answer) => return *answer,
            };
            if g.clients.get(client).map(String::as_str) != field("clientSecret") {
                return Answer::Ready(error(
                    401,
                    "InvalidClientException",
                    "invalid_client",
                    "Invalid client provided",
                ));
            }
            let lifetime = Duration::from_secs(dir.token_seconds.max(1));
            let issued = match field("grantType") {
                Some("urn:ietf:params:oauth:grant-type:device_code") => {
                    let code = field("deviceCode").unwrap_or_default();
                    match g.devices.get(code) {
                        None => {
                            return Answer::Ready(error(
                                400,
                                "InvalidGrantException",
                                "invalid_grant",
                                "Invalid grant provided",
                            ))
                        }
                        Some(d) if d.client_id != client => {
                            return Answer::Ready(error(
                                400,
                                "InvalidGrantException",
                                "invalid_grant",
                                "Invalid grant provided",
                            ))
                        }
                        Some(d) if d.expires <= SystemTime::now() => {
                            return Answer::Ready(error(
                                400,
                                "ExpiredTokenException",
                                "expired_token",
                                "Device code has expired",
                            ))
                        }
                        Some(d) if !d.approved => {
                            return Answer::Ready(error(
                                400,
                                "AuthorizationPendingException",
                                "authorization_pending",
                                "Authorization is still pending",
                            ))
                        }
                        Some(_) => {}
                    }
                    g.devices.remove(code);
                    let (access, refresh) = sessions.token(&mut g, lifetime);
                    g.refresh.insert(refresh.clone(), client.to_owned());
                    (access, refresh)
                }
                Some("refresh_token") => {
                    let old = field("refreshToken").unwrap_or_default();
                    if g.refresh.get(old).map(String::as_str) != Some(client) {
                        return Answer::Ready(error(
                            400,
                            "InvalidGrantException",
                            "invalid_grant",
                            "Invalid refresh token provided",
                        ));
                    }
                    g.refresh.remove(old);
                    let (access, refresh) = sessions.token(&mut g, lifetime);
                    g.refresh.insert(refresh.clone(), client.to_owned());
                    (access, refresh)
                }
                _ => {
                    return Answer::Ready(error(
                        400,
                        "UnsupportedGrantTypeException",
                        "unsupported_grant_type",
                        "Unsupported grant type",
                    ))
                }
            };
            Answer::Ready(json(
                StatusCode::OK,
                &serde_json::json!({
                    "accessToken": issued.0,
                    "tokenType": "Bearer",
                    "expiresIn": lifetime.as_secs(),
                    "refreshToken": issued.1,
                }),
            ))
        }
        ("GET", "/assignment/accounts") => {
            if !req.bearer.is_some_and(|t| sessions.valid(t)) {
                return unauthorized();
            }
            let list: Vec<_> = dir
                .accounts
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "accountId": a.id, "accountName": a.name, "emailAddress": a.email
                    })
                })
                .collect();
            Answer::Ready(json(
                StatusCode::OK,
                &serde_json::json!({ "accountList": list }),
            ))
        }
        ("GET", "/assignment/roles") => {
            if !req.bearer.is_some_and(|t| sessions.valid(t)) {
                return unauthorized();
            }
            let account = crate::loopback::form_param(req.query, "account_id").unwrap_or_default();
            if !dir.accounts.iter().any(|a| a.id == account) {
                return Answer::Ready(error(
                    404,
                    "ResourceNotFoundException",
                    "not_found",
                    "No access",
                ));
            }
            let list: Vec<_> = dir
                .roles
                .iter()
                .map(|r| serde_json::json!({ "roleName": r, "accountId": account }))
                .collect();
            Answer::Ready(json(
                StatusCode::OK,
                &serde_json::json!({ "roleList": list }),
            ))
        }
        ("GET", "/federation/credentials") => {
            if !req.bearer.is_some_and(|t| sessions.valid(t)) {
                return unauthorized();
            }
            let account = crate::loopback::form_param(req.query, "account_id").unwrap_or_default();
            let role = crate::loopback::form_param(req.query, "role_name").unwrap_or_default();
            if !dir.accounts.iter().any(|a| a.id == account) || !dir.roles.contains(&role) {
                return Answer::Ready(error(403, "ForbiddenException", "forbidden", "No access"));
            }
            Answer::AssumeRole {
                role_arn: role_arn(&account, &role),
                session: "sandbox-user".to_owned(),
            }
        }
        ("POST", "/logout") => {
            if let (Some(t), Ok(mut g)) = (req.bearer, sessions.inner.lock()) {
                g.tokens.remove(t);
            }
            Answer::Ready(json(StatusCode::OK, &serde_json::json!({})))
        }
        ("GET", "/_sandbox/sso/device") | ("GET", START_PATH) => {
            let code = crate::loopback::form_param(req.query, "user_code").unwrap_or_default();
            Answer::Ready(html(format!(
                "<!doctype html><title>Sandbox sign-in</title>\
                 <h1>Stagecraft sandbox: IAM Identity Center</h1>\
                 <p>This page stands in for AWS's sign-in page. Approve the device showing this code:</p>\
                 <form method=post action=\"/_sandbox/sso/approve\">\
                 <input name=user_code value=\"{}\"> <button>Approve</button></form>",
                code.replace(['"', '<', '>', '&'], "")
            )))
        }
        ("POST", "/_sandbox/sso/approve") => {
            let code = crate::loopback::form_param(req.query, "user_code")
                .or_else(|| {
                    crate::loopback::form_param(&String::from_utf8_lossy(req.body), "user_code")
                })
                .unwrap_or_default();
            if sessions.approve(&code) {
                Answer::Ready(html(
                    "<!doctype html><p>Approved: return to Stagecraft.</p>".to_owned(),
                ))
            } else {
                let mut r = html(format!(
                    "<!doctype html><p>No device is waiting with code {}.</p>",
                    code.replace(['"', '<', '>', '&'], "")
                ));
                *r.status_mut() = StatusCode::NOT_FOUND;
                Answer::Ready(r)
            }
        }
        _ => Answer::Ready(error(
            404,
            "ResourceNotFoundException",
            "not_found",
            "Unknown IAM Identity Center path",
        )),
    }
}

/// Role credentials in GetRoleCredentials' shape, from the keys moto's `AssumeRole` answered.
pub(crate) fn role_credentials(assume_role_xml: &str) -> Option<Response<Full<Bytes>>> {
    let tag = |name: &str| -> Option<String> {
        let open = format!("<{name}>");
        let start = assume_role_xml.find(&open)? + open.len();
        let end = assume_role_xml[start..].find(&format!("</{name}>"))? + start;
        Some(assume_role_xml[start..end].trim().to_owned())
    };
    let expiration = tag("Expiration")
        .and_then(|e| {
            time::OffsetDateTime::parse(&e, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or_else(
            || unix(SystemTime::now() + Duration::from_secs(3600)) * 1000,
            |t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        );
    Some(json(
        StatusCode::OK,
        &serde_json::json!({ "roleCredentials": {
            "accessKeyId": tag("AccessKeyId")?,
            "secretAccessKey": tag("SecretAccessKey")?,
            "sessionToken": tag("SessionToken")?,
            "expiration": expiration,
        }}),
    ))
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            crate::loopback::form_param("account_id=1&role_name=Read%2BOnly", "role_name")
                .as_deref(),
            Some("Read+Only")
        );
        assert_eq!(
            crate::loopback::form_param("user_code=AB%", "user_code").as_deref(),
            Some("AB%")
        );
    }

    #[test]
    fn permission_set_roles_are_named_as_identity_center_names_them() {
        let arn = role_arn("111122223333", "ReadOnlyAccess");
        assert!(arn.starts_with(
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReadOnlyAccess_"
        ));
    }
}
