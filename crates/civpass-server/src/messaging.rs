//! Outbound messages to citizens: e-mail over an SMTP relay (`lettre`), and the sandbox's
//! message files, which stand in for a mail relay and an SMS gateway on a developer's machine
//! (`DATA_DIR/sandbox-messages/mail.jsonl` and `sms.jsonl`, one JSON object per message).

use std::path::PathBuf;

use async_trait::async_trait;
use civpass_core::eme::verification::{Mailer, MessagingError, SmsGateway};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::AsyncWriteExt;

fn failed(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> MessagingError {
    MessagingError { what: what.to_owned(), source: Some(Box::new(e)) }
}

/// E-mail through an SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `url` as lettre reads it: `smtp://host:port` (plain; `?tls=required` for STARTTLS),
    /// `smtps://user:password@host` (TLS from the start); `from` a mailbox,
    /// `civpass <no-reply@example.org>`.
    ///
    /// Errors: a URL or mailbox that does not parse.
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp_url: {e}"))?
            .build();
        let from =
            from.parse().map_err(|e: lettre::address::AddressError| format!("mail_from: {e}"))?;
        Ok(SmtpMailer { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send_email(&self, to: &str, subject: &str, text: &str) -> Result<(), MessagingError> {
        let to: Mailbox = to.parse().map_err(|e| failed("the recipient is not a mailbox", e))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(text.to_owned())
            .map_err(|e| failed("building the message", e))?;
        self.transport.send(message).await.map_err(|e| failed("the mail relay refused it", e))?;
        Ok(())
    }
}

/// The sandbox's messages, appended to files a developer or a test reads. Synthetic people
/// only: wiring refuses it beside a real population registry.
pub struct SandboxMessages {
    dir: PathBuf,
    /// One writer at a time, so that lines never interleave.
    lock: tokio::sync::Mutex<()>,
}

impl SandboxMessages {
    pub fn new(dir: PathBuf) -> SandboxMessages {
        SandboxMessages { dir, lock: tokio::sync::Mutex::new(()) }
    }

    async fn append(&self, file: &str, message: serde_json::Value) -> Result<(), MessagingError> {
        let _guard = self.lock.lock().await;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| failed("the sandbox message folder", e))?;
        let mut options = tokio::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut out = options
            .open(self.dir.join(file))
            .await
            .map_err(|e| failed("the sandbox message file", e))?;
        let mut line = message.to_string();
        line.push('\n');
        out.write_all(line.as_bytes()).await.map_err(|e| failed("the sandbox message file", e))?;
        out.flush().await.map_err(|e| failed("the sandbox message file", e))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

#[async_trait]
impl Mailer for SandboxMessages {
    async fn send_email(&self, to: &str, subject: &str, text: &str) -> Result<(), MessagingError> {
        self.append(
            "mail.jsonl",
            serde_json::json!({"at": now(), "to": to, "subject": subject, "text": text}),
        )
        .await
    }
}

#[async_trait]
impl SmsGateway for SandboxMessages {
    async fn send_sms(&self, to: &str, text: &str) -> Result<(), MessagingError> {
        self.append("sms.jsonl", serde_json::json!({"at": now(), "to": to, "text": text})).await
    }
}
