//! The IMAP connector over implicit TLS and STARTTLS against a real Dovecot whose certificate
//! is signed by a throw-away CA (made with the `openssl` CLI): trusted through `tls_ca_file`,
//! refused with a clear error otherwise.

mod dovecot;

use std::collections::BTreeSet;

use ctx_connector_api::{ConnectorError, ErrorKind, ItemKind};
use ctx_connector_mail::{ImapConnector, ImapOptions, Security};
use ctx_connector_testkit::{MiniStore, pull_pass};
use dovecot::{Dovecot, Mail, PASSWORD};

fn tls_options(server: &Dovecot, security: Security) -> ImapOptions {
    let mut opts = server.options(PASSWORD);
    opts.security = security;
    opts.port = match security {
        Security::Tls => server.tls_port,
        Security::StartTls | Security::Plain => server.port,
    };
    opts
}

async fn subjects(opts: ImapOptions) -> Result<BTreeSet<String>, ConnectorError> {
    let mut connector = ImapConnector::new(opts);
    let mut store = MiniStore::new("imap");
    pull_pass(&mut connector, &mut store).await?;
    Ok(store
        .items()
        .filter(|i| i.kind == ItemKind::Email)
        .map(|i| i.title.clone())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_starttls_sync_with_a_private_ca_and_refuse_an_untrusted_certificate() {
    let server = Dovecot::start_tls();
    let tls = server.tls.as_ref().expect("tls server");
    let mut mail = Mail::new(&server).await;
    for i in 0..3 {
        mail.append(
            "INBOX",
            &format!("t{i}"),
            &format!("secure {i}"),
            "over tls",
        )
        .await;
    }
    let expected: BTreeSet<String> = (0..3).map(|i| format!("secure {i}")).collect();

    for security in [Security::Tls, Security::StartTls] {
        let mut opts = tls_options(&server, security);
        opts.tls_ca_file = Some(tls.ca.clone());
        let got = subjects(opts)
            .await
            .unwrap_or_else(|e| panic!("{security:?} with the CA: {e}\n{}", server.logs()));
        assert_eq!(got, expected, "{security:?}");
    }

    // Without the CA (only Mozilla's roots), and with a CA that signed something else.
    for security in [Security::Tls, Security::StartTls] {
        let err = subjects(tls_options(&server, security))
            .await
            .expect_err("a certificate of an unknown CA must be refused");
        assert_eq!(err.kind, ErrorKind::Permanent, "{security:?}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("not trusted") && text.contains("UnknownIssuer"),
            "{security:?}: {text}"
        );
        assert!(text.contains("set `tls_ca_file`"), "a hint: {text}");

        let mut opts = tls_options(&server, security);
        opts.tls_ca_file = Some(tls.other_ca.clone());
        let err = subjects(opts)
            .await
            .expect_err("the wrong CA must be refused");
        assert_eq!(err.kind, ErrorKind::Permanent, "{security:?}: {err}");
        assert!(
            err.to_string().contains("which did not sign it"),
            "{security:?}: {err}"
        );
    }

    // A file that is not a PEM certificate, and one that is missing: configuration errors.
    let not_pem = server.root.join("tls/server.csr");
    let missing = server.root.join("tls/missing.pem");
    for (path, says) in [
        (&not_pem, "no `BEGIN CERTIFICATE`"),
        (&missing, "cannot read"),
    ] {
        let mut opts = tls_options(&server, Security::Tls);
        opts.tls_ca_file = Some(path.clone());
        let err = subjects(opts).await.expect_err("a bad tls_ca_file");
        assert_eq!(err.kind, ErrorKind::Config, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}
