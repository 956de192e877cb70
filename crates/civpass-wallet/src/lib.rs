//! A citizen's wallet in software: a P-256 device key in a file, and a client for the device
//! API. `civpass wallet` uses it; so do the integration tests and the login benchmark.

use std::path::Path;

pub use civpass_api::VaultView as Vault;
use civpass_api::signing::{
    Verdict, confirm_message, decision_message, enrol_message, id_number_for_signing,
    pending_message, registration_code_message, session_message, transfer_message,
};
use civpass_api::{
    ConfirmRequest, ConfirmResponse, DecisionRequest, DecisionResponse, DeviceChallenge,
    DeviceChallengeRequest, DeviceView, EmailVerificationToken, EnrolmentRequest,
    EnrolmentResponse, EvidenceSubmission, FillingView, HistoryView, IdentityCheckRequest,
    IdentityCheckResponse, LinkedServiceView, LoginRequestView, MyData, PendingList,
    PendingRequest, PendingView, Problem, RegistrationCodeRequest, RegistrationCodeResponse,
    SessionRequest, SessionResponse, TransferAuthorisation, UpgradeRequest, UpgradeResponse,
    VaultChange, VaultView, VerificationCode, VerificationStarted,
};
use civpass_crypto::jws::DeviceKeyPair;
use civpass_crypto::secret::{b64url, b64url_decode};
use serde::{Deserialize, Serialize};

fn problem_text(problem: &Problem) -> String {
    let title = problem.title.trim_end_matches('.');
    // Refused fields, one per line under the title.
    if !problem.errors.is_empty() {
        let lines: Vec<String> =
            problem.errors.iter().map(|e| format!("\n  {}: {}", e.pointer, e.detail)).collect();
        return format!("{title} (HTTP {}):{}", problem.status, lines.concat());
    }
    match problem.detail.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        // A detail that repeats the title and goes on says it all, once.
        Some(detail) if detail.to_lowercase().starts_with(&title.to_lowercase()) => {
            let mut text = detail.to_owned();
            if let Some(first) = text.get(..1) {
                text.replace_range(..1, &first.to_uppercase());
            }
            format!("{text} (HTTP {})", problem.status)
        }
        Some(detail) => format!("{title} ({detail}; HTTP {})", problem.status),
        None => format!("{title} (HTTP {})", problem.status),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// An RFC 9457 problem: shown as its title, and its detail when that says more.
    #[error("{}", problem_text(.0))]
    Problem(Problem),
    #[error("could not reach the server: {0} (is it running there? `--server URL` names another)")]
    Http(String),
    #[error("not a civpass login link (expected …/app/login?request=ID)")]
    InvalidLink,
    #[error("wallet file: {0}")]
    File(String),
    #[error("this wallet is not enrolled yet: run `civpass wallet enroll` first")]
    NotEnrolled,
    #[error("{0}")]
    Invalid(String),
}

/// What the wallet file holds. The private key is PKCS#8, base64url; the file is created 0600.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletFile {
    /// Where the device API is: the wallet talks to nothing else.
    pub server: String,
    /// The platform's issuer, which every signed message names (learnt at enrolment; older
    /// files lack it, and the server stands for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub private_key: String,
    pub account_id: Option<String>,
    pub device_id: Option<String>,
}

pub struct Wallet {
    pub file: WalletFile,
    key: DeviceKeyPair,
    http: reqwest::Client,
}

/// A login link split into the server's base URL and the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLink {
    pub server: String,
    pub request_id: String,
}

impl LoginLink {
    /// A login link: `{server}/app/login?request={id}`.
    pub fn parse(link: &str) -> Result<LoginLink, WalletError> {
        LoginLink::parse_at(link, "/app/login")
    }

    /// A signing request's link: `{server}/app/sign?request={id}`.
    pub fn parse_signing(link: &str) -> Result<LoginLink, WalletError> {
        LoginLink::parse_at(link, "/app/sign")
    }

    /// Whether `link` is a signing request's rather than a login's.
    pub fn is_signing(link: &str) -> bool {
        LoginLink::parse_signing(link).is_ok()
    }

    fn parse_at(link: &str, page: &str) -> Result<LoginLink, WalletError> {
        let url = url::Url::parse(link.trim()).map_err(|_| WalletError::InvalidLink)?;
        let base_path = url.path().strip_suffix(page).ok_or(WalletError::InvalidLink)?;
        let request_id = url
            .query_pairs()
            .find(|(k, _)| k == "request")
            .map(|(_, v)| v.into_owned())
            .ok_or(WalletError::InvalidLink)?;
        if request_id.is_empty()
            || !request_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(WalletError::InvalidLink);
        }
        let mut server = url.clone();
        server.set_query(None);
        server.set_path(base_path);
        Ok(LoginLink { server: server.as_str().trim_end_matches('/').to_owned(), request_id })
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

async fn read<T: serde::de::DeserializeOwned>(res: reqwest::Response) -> Result<T, WalletError> {
    let status = res.status();
    let bytes = res.bytes().await.map_err(|e| WalletError::Http(e.to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| WalletError::Http(format!("unexpected response: {e}")));
    }
    match serde_json::from_slice::<Problem>(&bytes) {
        Ok(problem) => Err(WalletError::Problem(problem)),
        Err(_) => Err(WalletError::Http(format!("HTTP {status}"))),
    }
}

impl Wallet {
    /// A new wallet with a fresh key, not yet enrolled.
    pub fn create(server: &str) -> Result<Wallet, WalletError> {
        let (key, pkcs8) =
            DeviceKeyPair::generate().map_err(|e| WalletError::Invalid(e.to_string()))?;
        let file = WalletFile {
            server: server.trim_end_matches('/').to_owned(),
            issuer: None,
            private_key: b64url(&pkcs8),
            account_id: None,
            device_id: None,
        };
        Ok(Wallet { file, key, http: http_client() })
    }

    pub fn from_file(file: WalletFile) -> Result<Wallet, WalletError> {
        let pkcs8 = b64url_decode(&file.private_key)
            .ok_or_else(|| WalletError::File("private key is not base64url".into()))?;
        let key = DeviceKeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| WalletError::File("private key is not a P-256 PKCS#8 key".into()))?;
        Ok(Wallet { file, key, http: http_client() })
    }

    pub fn load(path: &Path) -> Result<Wallet, WalletError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WalletError::File(format!("{}: {e}", path.display())))?;
        let file: WalletFile = serde_json::from_str(&text)
            .map_err(|e| WalletError::File(format!("{}: {e}", path.display())))?;
        Wallet::from_file(file)
    }

    /// Writes the wallet atomically (temporary file, then rename), readable by the owner only.
    pub fn save(&self, path: &Path) -> Result<(), WalletError> {
        let text = serde_json::to_string_pretty(&self.file)
            .map_err(|e| WalletError::File(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f =
            options.open(&tmp).map_err(|e| WalletError::File(format!("{}: {e}", tmp.display())))?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .map_err(|e| WalletError::File(e.to_string()))?;
        f.sync_all().map_err(|e| WalletError::File(e.to_string()))?;
        std::fs::rename(&tmp, path)
            .map_err(|e| WalletError::File(format!("{}: {e}", path.display())))
    }

    /// Shares an HTTP client (and its connection pool) between wallets.
    pub fn with_http(mut self, http: reqwest::Client) -> Wallet {
        self.http = http;
        self
    }

    pub fn public_key(&self) -> String {
        self.key.public_key_b64()
    }

    /// The platform this wallet belongs to, as its signed messages name it.
    pub fn issuer(&self) -> &str {
        self.file.issuer.as_deref().unwrap_or(&self.file.server)
    }

    /// A device answers only its own platform: a link naming any other (a phishing page's QR
    /// code, say) is refused before anything is fetched or signed.
    pub fn check_link(&self, link: &LoginLink) -> Result<(), WalletError> {
        if link.server == self.issuer() || link.server == self.file.server {
            return Ok(());
        }
        Err(WalletError::Invalid(format!(
            "this login link is for {}, but this wallet belongs to {}: a device answers only its own platform",
            link.server,
            self.issuer()
        )))
    }

    /// Learns the platform's issuer from its server (`GET /api/v1/device/configuration`).
    async fn learn_issuer(&mut self) -> Result<(), WalletError> {
        let url = format!("{}/api/v1/device/configuration", self.file.server);
        let res = self.http.get(url).send().await.map_err(|e| WalletError::Http(e.to_string()))?;
        let config: civpass_api::DeviceConfiguration = read(res).await?;
        if !config.issuer.is_empty() {
            self.file.issuer = Some(config.issuer);
        }
        Ok(())
    }

    /// Signs `message` with the device key (ES256, base64url): the device API's formats are
    /// in `civpass_api::signing`.
    pub fn sign_message(&self, message: &[u8]) -> Result<String, WalletError> {
        self.sign(message)
    }

    fn sign(&self, message: &[u8]) -> Result<String, WalletError> {
        self.key.sign_b64(message).map_err(|e| WalletError::Invalid(e.to_string()))
    }

    /// Registers this wallet's key for the identity; `transfer_from` is the account's current
    /// wallet, which authorises moving the account here.
    /// Registers this wallet's key: a new account, checked by the identity check `evidence`
    /// (the vendor's session reference; with the sandbox verifier, the outcome to simulate), or,
    /// with `transfer_from`, the account of that wallet moved to this key.
    pub async fn enrol(
        &mut self,
        id_number: &str,
        name_en: &str,
        date_of_birth: &str,
        evidence: Option<&str>,
        transfer_from: Option<&Wallet>,
    ) -> Result<EnrolmentResponse, WalletError> {
        self.enrol_with_guardian(id_number, name_en, date_of_birth, evidence, transfer_from, None)
            .await
    }

    /// As `enrol`, for a citizen aged 11 to 17 naming the parent or guardian (their identity
    /// card number) who approves in their own app before the account can log in.
    pub async fn enrol_with_guardian(
        &mut self,
        id_number: &str,
        name_en: &str,
        date_of_birth: &str,
        evidence: Option<&str>,
        transfer_from: Option<&Wallet>,
        guardian: Option<&str>,
    ) -> Result<EnrolmentResponse, WalletError> {
        self.enrol_inner(
            id_number,
            name_en,
            date_of_birth,
            evidence,
            transfer_from,
            guardian,
            false,
        )
        .await
    }

    /// The phone holding the account was lost: moves the identity's account to this wallet's
    /// key, revoking every other device of it, on a strong identity check `evidence`.
    pub async fn recover_lost_device(
        &mut self,
        id_number: &str,
        name_en: &str,
        date_of_birth: &str,
        evidence: &str,
    ) -> Result<EnrolmentResponse, WalletError> {
        self.enrol_inner(id_number, name_en, date_of_birth, Some(evidence), None, None, true).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn enrol_inner(
        &mut self,
        id_number: &str,
        name_en: &str,
        date_of_birth: &str,
        evidence: Option<&str>,
        transfer_from: Option<&Wallet>,
        guardian: Option<&str>,
        replace_lost_device: bool,
    ) -> Result<EnrolmentResponse, WalletError> {
        // The provider checks the number; here only its form, to fail before any request.
        let hkid = id_number_for_signing(id_number);
        if !(8..=9).contains(&hkid.len()) || !hkid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(WalletError::Invalid(format!(
                "{id_number:?} is not an identity card number: one or two letters, six digits and a check digit, such as A123456(3)"
            )));
        }
        self.learn_issuer().await?;
        let public_key = self.public_key();
        let issuer = self.issuer().to_owned();
        let proof = self.sign(&enrol_message(&issuer, &hkid, &public_key))?;
        let transfer = match transfer_from {
            Some(old) => {
                let device_id = old.file.device_id.clone().ok_or(WalletError::NotEnrolled)?;
                let signature = old.sign(&transfer_message(&issuer, &device_id, &public_key))?;
                Some(TransferAuthorisation { device_id, signature })
            }
            None => None,
        };
        let evidence = match evidence {
            Some(session) => {
                let check = self.start_identity_check(id_number).await?;
                Some(EvidenceSubmission { session: session.to_owned(), reference: check.reference })
            }
            None => None,
        };
        let body = EnrolmentRequest {
            id_number: id_number.to_owned(),
            name_en: name_en.to_owned(),
            date_of_birth: date_of_birth.to_owned(),
            public_key,
            proof,
            evidence,
            transfer,
            guardian_id_number: guardian.map(str::to_owned),
            replace_lost_device,
        };
        let url = format!("{}/api/v1/device/enrolments", self.file.server);
        let done: EnrolmentResponse = call(self.http.post(url).json(&body)).await?;
        self.file.account_id = Some(done.account_id.clone());
        self.file.device_id = Some(done.device_id.clone());
        Ok(done)
    }

    /// A registration code to show an officer at a registration point: for this enrolled
    /// device (an upgrade to plus), or, before enrolment, for this key (registration at plus).
    pub async fn registration_code(&mut self) -> Result<RegistrationCodeResponse, WalletError> {
        self.learn_issuer().await?;
        let public_key = self.public_key();
        let device_id = self.file.device_id.clone();
        let signature = self.sign(&registration_code_message(
            self.issuer(),
            &public_key,
            device_id.as_deref(),
        ))?;
        let body = RegistrationCodeRequest { public_key, device_id, signature };
        let url = format!("{}/api/v1/device/registration-codes", self.file.server);
        call(self.http.post(url).json(&body)).await
    }

    /// What an officer did that waits for this device's confirmation.
    pub async fn pending(&mut self) -> Result<Vec<PendingView>, WalletError> {
        self.learn_issuer().await?;
        let public_key = self.public_key();
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let signature = self.sign(&pending_message(self.issuer(), &public_key, at))?;
        let url = format!("{}/api/v1/device/pending", self.file.server);
        let list: PendingList =
            call(self.http.post(url).json(&PendingRequest { public_key, at, signature })).await?;
        Ok(list.pending)
    }

    /// Confirms what an officer did (`pending` gives the id and kind): afterwards this wallet
    /// holds the account, at plus.
    pub async fn confirm(&mut self, pending: &PendingView) -> Result<ConfirmResponse, WalletError> {
        self.learn_issuer().await?;
        let signature = self.sign(&confirm_message(self.issuer(), &pending.id, &pending.kind))?;
        let url = format!("{}/api/v1/device/pending/{}/confirm", self.file.server, pending.id);
        let done: ConfirmResponse =
            call(self.http.post(url).json(&ConfirmRequest { signature })).await?;
        self.file.account_id = Some(done.account_id.clone());
        self.file.device_id = Some(done.device_id.clone());
        Ok(done)
    }

    /// Opens an identity check for a registration naming `id_number`; its reference goes to
    /// the vendor's SDK (or, in the sandbox, straight back with the chosen outcome).
    pub async fn start_identity_check(
        &self,
        id_number: &str,
    ) -> Result<IdentityCheckResponse, WalletError> {
        let url = format!("{}/api/v1/device/identity-checks", self.file.server);
        call(self.http.post(url).json(&IdentityCheckRequest { id_number: id_number.to_owned() }))
            .await
    }

    /// Fetches the login request behind a link.
    pub async fn fetch(&self, link: &LoginLink) -> Result<LoginRequestView, WalletError> {
        self.check_link(link)?;
        let url = format!("{}/api/v1/device/login-requests/{}", self.file.server, link.request_id);
        call(self.http.get(url)).await
    }

    /// Fetches the login request behind a link with the values each requested claim would be
    /// released with, read with an app session of this wallet's account.
    pub async fn fetch_with_values(
        &self,
        link: &LoginLink,
    ) -> Result<LoginRequestView, WalletError> {
        self.check_link(link)?;
        let session = self.open_session().await?;
        let url = format!("{}/api/v1/device/login-requests/{}", self.file.server, link.request_id);
        call(self.http.get(url).bearer_auth(&session.token)).await
    }

    /// The signed decision the app posts: approval (releasing `scopes`, which must include
    /// `openid`) or denial.
    pub fn decision_body(
        &self,
        view: &LoginRequestView,
        verdict: Verdict,
        match_code: &str,
        scopes: &[String],
    ) -> Result<DecisionRequest, WalletError> {
        let device_id = self.file.device_id.clone().ok_or(WalletError::NotEnrolled)?;
        let scopes: Vec<String> =
            if verdict == Verdict::Deny { Vec::new() } else { scopes.to_vec() };
        let signature = self.sign(&decision_message(
            self.issuer(),
            &view.request_id,
            &view.challenge,
            verdict,
            match_code,
            &scopes,
        ))?;
        Ok(DecisionRequest {
            device_id,
            decision: verdict.as_str().to_owned(),
            match_code: match_code.to_owned(),
            approved_scopes: scopes,
            signature,
            ceremony_id: None,
            passkey: None,
        })
    }

    /// Approves or denies the request.
    pub async fn decide(
        &self,
        link: &LoginLink,
        view: &LoginRequestView,
        verdict: Verdict,
        match_code: &str,
        scopes: &[String],
    ) -> Result<DecisionResponse, WalletError> {
        self.check_link(link)?;
        let body = self.decision_body(view, verdict, match_code, scopes)?;
        let url = format!(
            "{}/api/v1/device/login-requests/{}/decision",
            self.file.server, link.request_id
        );
        call(self.http.post(url).json(&body)).await
    }

    /// A signing request as the app shows it (`GET /api/v1/device/signing-requests/{id}`).
    pub async fn fetch_signing(
        &self,
        link: &LoginLink,
    ) -> Result<civpass_api::SigningRequestView, WalletError> {
        self.check_link(link)?;
        let url =
            format!("{}/api/v1/device/signing-requests/{}", self.file.server, link.request_id);
        call(self.http.get(url)).await
    }

    /// The binding of the documents a signing request shows, computed here from their digests
    /// (never taken from the server): what an approval signs, and whose first characters are
    /// the fingerprint to compare with the service's page.
    ///
    /// Errors: `Invalid` for a digest that is not base64 SHA-256.
    pub fn documents_binding(
        view: &civpass_api::SigningRequestView,
    ) -> Result<String, WalletError> {
        use base64::Engine;
        let digests = view
            .documents
            .iter()
            .map(|d| {
                base64::engine::general_purpose::STANDARD
                    .decode(&d.digest)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| {
                        WalletError::Invalid(format!("{:?} has no SHA-256 digest", d.name))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(civpass_api::signing::documents_binding(&digests))
    }

    /// Answers a signing request: the device signs `signing_message` over the documents'
    /// binding it computes itself from the digests it was shown (not the server's), so that it
    /// approves exactly those documents.
    pub async fn decide_signing(
        &self,
        link: &LoginLink,
        view: &civpass_api::SigningRequestView,
        verdict: Verdict,
        match_code: &str,
    ) -> Result<(), WalletError> {
        self.check_link(link)?;
        let device_id = self.file.device_id.clone().ok_or(WalletError::NotEnrolled)?;
        let binding = Wallet::documents_binding(view)?;
        let message = civpass_api::signing::signing_message(
            self.issuer(),
            &view.request_id,
            &binding,
            verdict,
            match_code,
        );
        let body = civpass_api::SigningDecisionRequest {
            device_id,
            decision: verdict.as_str().to_owned(),
            match_code: match_code.to_owned(),
            signature: self.sign(&message)?,
        };
        let url = format!(
            "{}/api/v1/device/signing-requests/{}/decision",
            self.file.server, link.request_id
        );
        no_content(self.http.post(url).json(&body)).await
    }

    /// Opens an app session by signing the server's challenge; returns the session token.
    pub async fn open_session(&self) -> Result<SessionResponse, WalletError> {
        let device_id = self.file.device_id.clone().ok_or(WalletError::NotEnrolled)?;
        let url = format!("{}/api/v1/device/sessions/challenge", self.file.server);
        let challenge: DeviceChallenge = call(
            self.http.post(url).json(&DeviceChallengeRequest { device_id: device_id.clone() }),
        )
        .await?;
        let text = challenge
            .challenge
            .ok_or_else(|| WalletError::Invalid("the server sent no challenge to sign".into()))?;
        let signature =
            self.sign(&session_message(self.issuer(), &challenge.ceremony_id, &text))?;
        let body = SessionRequest {
            device_id,
            ceremony_id: challenge.ceremony_id,
            signature: Some(signature),
            passkey: None,
        };
        let url = format!("{}/api/v1/device/sessions", self.file.server);
        call(self.http.post(url).json(&body)).await
    }

    /// A `GET` of the citizen's own account (`/api/v1/device/me{path}`) in an app session.
    async fn get_me<T: serde::de::DeserializeOwned>(
        &self,
        session: &SessionResponse,
        path: &str,
    ) -> Result<T, WalletError> {
        let url = format!("{}/api/v1/device/me{path}", self.file.server);
        call(self.http.get(url).bearer_auth(&session.token)).await
    }

    /// The identity data the platform holds for this wallet's account.
    pub async fn my_data(&self, session: &SessionResponse) -> Result<MyData, WalletError> {
        self.get_me(session, "").await
    }

    /// The services linked to this wallet's account and what each received.
    pub async fn services(
        &self,
        session: &SessionResponse,
    ) -> Result<Vec<LinkedServiceView>, WalletError> {
        self.get_me(session, "/services").await
    }

    /// Upgrades this wallet's account to plus remotely: an identity check of its own identity
    /// (`evidence`: the vendor's session; with the sandbox verifier, the outcome to simulate,
    /// `pass` being strong and `pass:basic` not), which must pass at the strong level.
    pub async fn upgrade(&self, evidence: &str) -> Result<UpgradeResponse, WalletError> {
        let session = self.open_session().await?;
        let mine = self.my_data(&session).await?;
        let check = self.start_identity_check(&mine.hkid).await?;
        let body = UpgradeRequest {
            evidence: Some(EvidenceSubmission {
                session: evidence.to_owned(),
                reference: check.reference,
            }),
        };
        let url = format!("{}/api/v1/device/me/upgrade", self.file.server);
        call(self.http.post(url).bearer_auth(&session.token).json(&body)).await
    }

    /// The account's devices, active and revoked.
    pub async fn devices(&self, session: &SessionResponse) -> Result<Vec<DeviceView>, WalletError> {
        self.get_me(session, "/devices").await
    }

    /// What happened to the account, where and when.
    pub async fn history(
        &self,
        session: &SessionResponse,
    ) -> Result<Vec<HistoryView>, WalletError> {
        self.get_me(session, "/history").await
    }

    /// Revokes another device of the account (a lost phone).
    pub async fn revoke_device(
        &self,
        session: &SessionResponse,
        device_id: &str,
    ) -> Result<(), WalletError> {
        let url = format!("{}/api/v1/device/me/devices/{device_id}/revoke", self.file.server);
        no_content(self.http.post(url).bearer_auth(&session.token)).await
    }

    /// The account's e-ME vault.
    pub async fn vault(&self, session: &SessionResponse) -> Result<VaultView, WalletError> {
        self.get_me(session, "/eme").await
    }

    /// Changes the e-ME vault: each field (or `field.part`) to its value, `None` deleting it;
    /// all or nothing.
    pub async fn change_vault(
        &self,
        session: &SessionResponse,
        changes: Vec<(String, Option<String>)>,
    ) -> Result<VaultView, WalletError> {
        let url = format!("{}/api/v1/device/me/eme", self.file.server);
        let body = VaultChange { changes: changes.into_iter().collect() };
        call(self.http.patch(url).bearer_auth(&session.token).json(&body)).await
    }

    /// Asks for a verification message: `email` (a one-time link) or `phone_number` (a code
    /// by SMS, to send back with `confirm_phone`).
    pub async fn start_verification(
        &self,
        session: &SessionResponse,
        field: &str,
    ) -> Result<VerificationStarted, WalletError> {
        if field != "email" && field != "phone_number" {
            return Err(WalletError::Invalid(format!(
                "{field}: only email and phone_number are verified"
            )));
        }
        let url = format!("{}/api/v1/device/me/eme/{field}/verification", self.file.server);
        call(self.http.post(url).bearer_auth(&session.token)).await
    }

    /// Sends back the code an SMS verification sent.
    pub async fn confirm_phone(
        &self,
        session: &SessionResponse,
        verification_id: &str,
        code: &str,
    ) -> Result<VaultView, WalletError> {
        let url = format!(
            "{}/api/v1/device/me/eme/phone_number/verification/{verification_id}",
            self.file.server
        );
        let body = VerificationCode { code: code.to_owned() };
        call(self.http.post(url).bearer_auth(&session.token).json(&body)).await
    }

    /// Opens an e-mail verification link (`…/app/verify-email#TOKEN`) as the app does: with an
    /// app session of this wallet's account, which must be the one that asked for it.
    pub async fn confirm_email_link(&self, link: &str) -> Result<(), WalletError> {
        let token = link
            .split_once("/app/verify-email#")
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| WalletError::Invalid("not an e-mail verification link".into()))?;
        let session = self.open_session().await?;
        let url = format!("{}/api/v1/device/me/eme/email/confirmation", self.file.server);
        let body = EmailVerificationToken { token: token.to_owned() };
        let _: VaultView =
            call(self.http.post(url).bearer_auth(&session.token).json(&body)).await?;
        Ok(())
    }

    /// A `GET` of `/api/v1/device/me{path}` whose answer is not JSON (a JWT, a document): the
    /// response if it succeeded, else the problem it was refused with.
    async fn get_raw(
        &self,
        session: &SessionResponse,
        path: &str,
    ) -> Result<reqwest::Response, WalletError> {
        let url = format!("{}/api/v1/device/me{path}", self.file.server);
        let res = self
            .http
            .get(url)
            .bearer_auth(&session.token)
            .send()
            .await
            .map_err(|e| WalletError::Http(e.to_string()))?;
        if !res.status().is_success() {
            return Err(read::<()>(res).await.err().unwrap_or(WalletError::Http("refused".into())));
        }
        Ok(res)
    }

    /// The consent receipt for the standing consent to `client_id`: a JWT signed by civpass.
    pub async fn consent_receipt(
        &self,
        session: &SessionResponse,
        client_id: &str,
    ) -> Result<String, WalletError> {
        let res = self.get_raw(session, &format!("/services/{client_id}/receipt")).await?;
        res.text().await.map_err(|e| WalletError::Http(e.to_string()))
    }

    /// Uploads an address proof (a PDF, JPEG or PNG file's bytes).
    pub async fn upload_address_proof(
        &self,
        session: &SessionResponse,
        bytes: Vec<u8>,
    ) -> Result<VaultView, WalletError> {
        let url = format!("{}/api/v1/device/me/eme/address_proof", self.file.server);
        let request = self.http.post(url).bearer_auth(&session.token).body(bytes);
        let res = request
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .send()
            .await
            .map_err(|e| WalletError::Http(e.to_string()))?;
        if res.status() == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
            return Err(WalletError::Invalid("the document is larger than 5 MB".into()));
        }
        read(res).await
    }

    /// Downloads an address proof: its type and bytes.
    pub async fn address_proof(
        &self,
        session: &SessionResponse,
        id: &str,
    ) -> Result<(String, Vec<u8>), WalletError> {
        let res = self.get_raw(session, &format!("/eme/address_proof/{}", doc_id(id)?)).await?;
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = res.bytes().await.map_err(|e| WalletError::Http(e.to_string()))?;
        Ok((content_type, bytes.to_vec()))
    }

    /// Deletes one address proof; the vault without it.
    pub async fn delete_address_proof(
        &self,
        session: &SessionResponse,
        id: &str,
    ) -> Result<VaultView, WalletError> {
        let url =
            format!("{}/api/v1/device/me/eme/address_proof/{}", self.file.server, doc_id(id)?);
        call(self.http.delete(url).bearer_auth(&session.token)).await
    }

    /// The citizen's own records of anonymous form fillings.
    pub async fn anonymous_fillings(
        &self,
        session: &SessionResponse,
    ) -> Result<Vec<FillingView>, WalletError> {
        self.get_me(session, "/fillings").await
    }

    /// Unlinks a service: it loses its tokens and the citizen's consent.
    pub async fn unlink(
        &self,
        session: &SessionResponse,
        client_id: &str,
    ) -> Result<(), WalletError> {
        let url = format!("{}/api/v1/device/me/services/{client_id}", self.file.server);
        no_content(self.http.delete(url).bearer_auth(&session.token)).await
    }
}

/// A document id as `eme show` lists it (`doc_` and base64url), so that what is typed cannot
/// reach another path of the device API.
fn doc_id(id: &str) -> Result<&str, WalletError> {
    let well_formed = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if well_formed {
        Ok(id)
    } else {
        Err(WalletError::Invalid(format!("{id:?} is not a document id")))
    }
}

/// Sends a request and reads its answer (`read`).
async fn call<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, WalletError> {
    read(request.send().await.map_err(|e| WalletError::Http(e.to_string()))?).await
}

/// Sends a request whose success has no body (204): `Ok`, or the problem it was refused with.
async fn no_content(request: reqwest::RequestBuilder) -> Result<(), WalletError> {
    let res = request.send().await.map_err(|e| WalletError::Http(e.to_string()))?;
    if res.status().is_success() {
        return Ok(());
    }
    read::<()>(res).await
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn login_link_parsing_never_panics(link in "\\PC{0,120}") {
            let _ = LoginLink::parse(&link);
        }

        #[test]
        fn any_request_id_round_trips_through_a_link(id in "[A-Za-z0-9_-]{1,64}") {
            let link = LoginLink::parse(&format!("https://id.example/app/login?request={id}")).unwrap();
            prop_assert_eq!(link.request_id, id);
        }
    }

    #[test]
    fn a_problem_is_told_once() {
        let problem = |title: &str, detail: Option<&str>| Problem {
            problem_type: "about:blank".into(),
            title: title.into(),
            status: 409,
            detail: detail.map(str::to_owned),
            errors: Vec::new(),
        };
        assert_eq!(
            problem_text(&problem(
                "This identity already has a civpass account",
                Some(
                    "this identity already has a civpass account; approve the move from the current device"
                )
            )),
            "This identity already has a civpass account; approve the move from the current device (HTTP 409)"
        );
        assert_eq!(problem_text(&problem("Gone.", Some("gone"))), "Gone (HTTP 409)");
        assert_eq!(
            problem_text(&problem("Refused", Some("the code is wrong"))),
            "Refused (the code is wrong; HTTP 409)"
        );
        assert_eq!(problem_text(&problem("Refused", None)), "Refused (HTTP 409)");
    }

    #[test]
    fn login_links_parse_into_server_and_request() {
        let link = LoginLink::parse("http://127.0.0.1:8080/app/login?request=abc_D-1").unwrap();
        assert_eq!(
            link,
            LoginLink { server: "http://127.0.0.1:8080".into(), request_id: "abc_D-1".into() }
        );
        let prefixed = LoginLink::parse("https://id.example/civpass/app/login?request=x").unwrap();
        assert_eq!(prefixed.server, "https://id.example/civpass");
        for bad in [
            "",
            "http://h/app/other?request=x",
            "http://h/app/login",
            "http://h/app/login?request=",
            "http://h/app/login?request=a/b",
            "not a url",
        ] {
            assert!(LoginLink::parse(bad).is_err(), "{bad}");
        }
    }
}
