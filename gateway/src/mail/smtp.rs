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
            // A deferral's words may name the recipient too (`450 <ada@…>: mailbox full`),
            // and this text is logged: its code alone is kept.
            Err(error) => {
                let message = match error.status() {
                    Some(code) => format!("the relay deferred the message ({code})"),
                    None if error.is_timeout() => "the relay did not answer in time".to_owned(),
                    None => format!("the relay could not be reached: {}", connection_error(&error)),
                };
                Err(SendFailure { permanent: false, message })
            }
        }
    }
}

/// What went wrong below SMTP (the socket's error), never a reply's words.
fn connection_error(error: &lettre::transport::smtp::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return io.to_string();
        }
        source = inner.source();
    }
    "no answer".to_owned()
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
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::{split_host_port, MailSettings, Relay};

    /// A relay that defers every recipient with words naming the address.
    async fn deferring_relay() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 relay\r\n").await.unwrap();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply: &[u8] = match &line.get(..4).unwrap_or_default().to_ascii_uppercase()[..] {
                    "RCPT" => b"450 4.2.2 <ada@example.org>: mailbox full\r\n",
                    "QUIT" => b"221 bye\r\n",
                    _ => b"250 ok\r\n",
                };
                if write.write_all(reply).await.is_err() {
                    break;
                }
            }
        });
        port
    }

    #[tokio::test]
    async fn a_deferral_is_told_by_its_code_not_its_words_which_may_name_the_buyer() {
        let port = deferring_relay().await;
        let settings = MailSettings {
            relay: format!("127.0.0.1:{port}"),
            from: "Guichet <tickets@example.net>".parse().unwrap(),
            public_url: "https://tickets.example.net".into(),
            timeout: Duration::from_secs(5),
        };
        let message = lettre::Message::builder()
            .from(settings.from.clone())
            .to("Ada <ada@example.org>".parse().unwrap())
            .subject("s")
            .body(String::from("b"))
            .unwrap();
        let failure = Relay::new(&settings).unwrap().send(message).await.unwrap_err();
        assert!(!failure.permanent);
        assert!(!failure.message.contains("ada@"), "{}", failure.message);
        assert!(failure.message.contains("450"), "{}", failure.message);
    }

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
