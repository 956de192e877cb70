//! A browser, a relying party and the app, as the tests drive them.

use civpass_core::oidc::login::Verdict;
use civpass_crypto::secret::{b64url, random_token, sha256};
use civpass_testkit::TestServer;
use civpass_wallet::{LoginLink, Wallet};
use reqwest::StatusCode;
use reqwest::header::LOCATION;

/// A browser: its own cookie jar, redirects not followed.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An authorization request as a relying party would send it.
pub(crate) struct AuthRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) verifier: String,
}

impl AuthRequest {
    pub(crate) fn new(client_id: &str, redirect_uri: &str, scope: &str) -> AuthRequest {
        AuthRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scope: scope.to_owned(),
            state: random_token(12),
            nonce: random_token(12),
            verifier: random_token(32),
        }
    }

    pub(crate) fn url(&self, base: &str) -> String {
        let challenge = b64url(&sha256(self.verifier.as_bytes()));
        let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &self.scope)
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        url.to_string()
    }
}

/// The login page as the browser sees it while waiting.
pub(crate) struct Waiting {
    pub(crate) page_url: String,
    pub(crate) match_code: String,
    pub(crate) link: LoginLink,
}

pub(crate) fn location(res: &reqwest::Response) -> String {
    res.headers().get(LOCATION).expect("a Location header").to_str().unwrap().to_owned()
}

/// Follows `/authorize` to the login page and reads the matching code and the app link off it.
pub(crate) async fn open_login_page(
    browser: &reqwest::Client,
    base: &str,
    authorize_url: &str,
) -> Waiting {
    let res = browser.get(authorize_url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "authorize should redirect to the login page");
    let page_url = format!("{base}{}", location(&res));
    let res = browser.get(&page_url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let match_code = between(&html, "id=\"match-code\">", "<").to_owned();
    assert_eq!(match_code.len(), 2);
    let link = between(&html, "id=\"open-app\" href=\"", "\"").replace("&amp;", "&");
    assert!(html.contains("<svg"), "the page shows a QR code");
    Waiting { page_url, match_code, link: LoginLink::parse(&link).unwrap() }
}

pub(crate) fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let rest =
        &text[text.find(start).unwrap_or_else(|| panic!("{start:?} not in page")) + start.len()..];
    &rest[..rest.find(end).unwrap()]
}

/// Opens an identity check for a registration naming `id_number`; returns its reference.
pub(crate) async fn identity_check(base: &str, id_number: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/device/identity-checks"))
        .json(&serde_json::json!({"id_number": id_number}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: serde_json::Value = res.json().await.unwrap();
    body["reference"].as_str().unwrap().to_owned()
}

/// A new client, and a new browser at the login page of its authorization request for `scope`.
pub(crate) async fn start_login(
    server: &TestServer,
    scope: &str,
) -> (String, reqwest::Client, Waiting) {
    let (id, _) = server.client(CALLBACK).await;
    let browser = browser();
    let waiting = open_login_page(
        &browser,
        &server.base,
        &AuthRequest::new(&id, CALLBACK, scope).url(&server.base),
    )
    .await;
    (id, browser, waiting)
}

/// A login of `client_id` started in `browser`, which then holds its binding cookie.
pub(crate) async fn start_login_in(
    browser: &reqwest::Client,
    server: &TestServer,
    client_id: &str,
) -> Waiting {
    open_login_page(
        browser,
        &server.base,
        &AuthRequest::new(client_id, CALLBACK, "openid").url(&server.base),
    )
    .await
}

/// Approves the request in the app, releasing everything asked for.
pub(crate) async fn approve(wallet: &Wallet, waiting: &Waiting) {
    let view = wallet.fetch(&waiting.link).await.unwrap();
    let scopes: Vec<String> = view.scopes.iter().map(|s| s.scope.clone()).collect();
    wallet
        .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &scopes)
        .await
        .unwrap();
}

/// The browser returns to the login page and is sent to the service: the callback URL.
pub(crate) async fn finish(browser: &reqwest::Client, waiting: &Waiting) -> url::Url {
    let res = browser.get(&waiting.page_url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    url::Url::parse(&location(&res)).unwrap()
}

/// A GET answered with JSON.
pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

pub(crate) fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A whole login with the raw protocol; returns the authorization code.
pub(crate) async fn login_code(server: &TestServer, wallet: &Wallet, req: &AuthRequest) -> String {
    login_code_in(&browser(), server, wallet, req).await
}

/// A whole login in `browser` (whose cookies then bind the session); returns the code.
pub(crate) async fn login_code_in(
    browser: &reqwest::Client,
    server: &TestServer,
    wallet: &Wallet,
    req: &AuthRequest,
) -> String {
    let waiting = open_login_page(browser, &server.base, &req.url(&server.base)).await;
    approve(wallet, &waiting).await;
    let back = finish(browser, &waiting).await;
    query(&back, "code").expect("a code")
}

/// The logout confirmation page's form, as `(name, value)` pairs of its hidden fields.
pub(crate) fn logout_form_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| {
            let name = between(input, "name=\"", "\"").to_owned();
            let value =
                between(input, "value=\"", "\"").replace("&#x2f;", "/").replace("&#47;", "/");
            let value = value.replace("&amp;", "&").replace("&quot;", "\"").replace("&#x3d;", "=");
            (name, value)
        })
        .collect()
}

/// Posts the logout confirmation page's form back with `decision` (`logout` or `stay`).
pub(crate) async fn answer_logout(
    browser: &reqwest::Client,
    base: &str,
    page: &str,
    decision: &str,
) -> reqwest::Response {
    let mut form = logout_form_fields(page);
    form.push(("decision".into(), decision.into()));
    browser.post(format!("{base}/logout")).form(&form).send().await.unwrap()
}

/// Posts to the token endpoint with client_secret_basic.
pub(crate) async fn token(
    base: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

pub(crate) async fn redeem(
    base: &str,
    client: (&str, &str),
    req: &AuthRequest,
    code: &str,
) -> (StatusCode, serde_json::Value) {
    token(
        base,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &req.redirect_uri),
            ("code_verifier", &req.verifier),
        ],
    )
    .await
}

/// The provider's discovery document.
pub(crate) async fn discovery(base: &str) -> serde_json::Value {
    reqwest::get(format!("{base}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn userinfo(base: &str, access_token: &str) -> (StatusCode, serde_json::Value) {
    let res = reqwest::Client::new()
        .get(format!("{base}/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

pub(crate) const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// Serves `body` (a JSON document; it may change) at any path, once per connection, on a free loopback port.
pub(crate) async fn document_server(body: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/document", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let body = body.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    url
}

/// The claims of a JWT, unverified (the tests check signatures where that is the point).
pub(crate) fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Starts `civpass serve` with `extra` after `serve --listen 127.0.0.1:0`, standard error to
/// `stderr`; returns the process and the base URL its first line names.
pub(crate) fn serve_binary(
    extra: &[&str],
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (std::process::Child, String) {
    serve_binary_at("127.0.0.1:0", extra, env, stderr)
}

/// `serve_binary` on `listen`.
pub(crate) fn serve_binary_at(
    listen: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_civpass"))
        .env_remove("CIVPASS_MASTER_KEY")
        .args(["serve", "--listen", listen])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    (child, base)
}

/// A login of `wallet` at a new client, approved in the app: where the browser was sent back
/// to the service, or the problem (its slug) the app's approval was refused with.
pub(crate) async fn try_login(server: &TestServer, wallet: &Wallet) -> Result<url::Url, String> {
    let slug = |e: civpass_wallet::WalletError| match e {
        civpass_wallet::WalletError::Problem(p) => {
            p.problem_type.rsplit('/').next().unwrap_or("").to_owned()
        }
        other => other.to_string(),
    };
    let (id, _) = server.client(CALLBACK).await;
    let req = AuthRequest::new(&id, CALLBACK, "openid");
    let browser = browser();
    let waiting = open_login_page(&browser, &server.base, &req.url(&server.base)).await;
    let view = wallet.fetch(&waiting.link).await.map_err(slug)?;
    let scopes: Vec<String> = view.scopes.iter().map(|s| s.scope.clone()).collect();
    wallet
        .decide(&waiting.link, &view, Verdict::Approve, &waiting.match_code, &scopes)
        .await
        .map_err(slug)?;
    Ok(finish(&browser, &waiting).await)
}
