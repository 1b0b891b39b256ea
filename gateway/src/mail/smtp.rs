//! Handing a message to the SMTP relay (`lettre`'s async client, one
//! connection per message, plain SMTP: the relay is a local MTA that
//! delivers onwards). A refusal the relay says is for good (5xx) is
//! permanent; anything else (4xx, no connection, a timeout) passes and is
//! retried with the outbox's backoff.

use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::MailSettings;

/// Why a message did not leave.
#[derive(Debug)]
pub struct SendFailure {
    /// The relay refused it for good: sending it again would fail again.
    pub permanent: bool,
    pub message: String,
}

pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Relay {
    /// The relay of `settings` (`host:port`), greeted with the sender's domain.
    pub fn new(settings: &MailSettings) -> Result<Relay, String> {
        let (host, port) = split_host_port(&settings.relay)?;
        // builder_dangerous: no TLS (the only way without a TLS backend built in).
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(settings.timeout))
            .hello_name(ClientId::Domain(settings.from.email.domain().to_owned()))
            .build();
        Ok(Relay { transport })
    }

    pub async fn send(&self, message: Message) -> Result<(), SendFailure> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // A refusal is told by its code alone: its words may name the recipient.
            Err(error) if error.is_permanent() => {
                let code = error.status().map_or_else(|| "5xx".to_owned(), |code| code.to_string());
                Err(SendFailure { permanent: true, message: format!("the relay refused the message ({code})") })
            }
            Err(error) => Err(SendFailure { permanent: false, message: error.to_string() }),
        }
    }
}

/// `host:port` (an IPv6 host in brackets) into its parts.
pub fn split_host_port(address: &str) -> Result<(&str, u16), String> {
    let bad = || format!("{address:?} is not host:port");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn a_relay_address_is_host_and_port() {
        assert_eq!(split_host_port("127.0.0.1:2525"), Ok(("127.0.0.1", 2525)));
        assert_eq!(split_host_port("[::1]:25"), Ok(("::1", 25)));
        assert_eq!(split_host_port("mail.internal:587"), Ok(("mail.internal", 587)));
        assert!(split_host_port("mail.internal").is_err());
        assert!(split_host_port(":25").is_err());
        assert!(split_host_port("host:smtp").is_err());
    }
}
