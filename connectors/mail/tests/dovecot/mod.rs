//! A private, throw-away Dovecot per test: its own config, mail store and port, started as a
//! child process and stopped on drop, so tests are isolated and can run in parallel.
//!
//! The tests need the `dovecot` binary (Debian package `dovecot-imapd`); when it is missing they
//! fail with a message saying so, since CI installs it (`.ci/run`).

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::Session;
use ctx_connector_mail::{ImapOptions, Security};
use futures_util::TryStreamExt;
use tokio::net::TcpStream;

const TEMPLATE: &str = include_str!("dovecot.conf.in");
pub const USER: &str = "alice";
pub const PASSWORD: &str = "secret";

pub struct Dovecot {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub conf: PathBuf,
    /// IMAP (with STARTTLS when started with [`Dovecot::start_tls`]).
    pub port: u16,
    /// Implicit TLS (IMAPS); 0 unless started with [`Dovecot::start_tls`].
    pub tls_port: u16,
    /// The certificates of a TLS server.
    pub tls: Option<TlsFiles>,
    child: Option<Child>,
}

/// Throw-away certificates made with the `openssl` CLI for one TLS server.
pub struct TlsFiles {
    /// The CA that signed the server's certificate (for 127.0.0.1 and localhost).
    pub ca: PathBuf,
    /// Another CA, which signed nothing the server presents.
    pub other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// A CA, a server certificate it signs, and an unrelated CA, in `dir`.
fn make_certificates(dir: &Path) -> TlsFiles {
    std::fs::create_dir_all(dir).expect("tls dir");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (name, cn) in [("ca", "ctx test CA"), ("other-ca", "unrelated CA")] {
        let key = format!("{name}.key");
        let pem = format!("{name}.pem");
        let subject = format!("/CN={cn}");
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend([
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(dir, &args);
    }
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    TlsFiles {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn require_dovecot() {
    let found = Command::new("dovecot")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "the IMAP tests need a real Dovecot, and `dovecot` is not installed: run \
         `apt-get install -y dovecot-imapd` (CI installs it in .ci/run)"
    );
}

/// Makes `dir` and every ancestor traversable by the `dovecot` user (tempfile creates 0700).
fn open_path(dir: &Path) {
    let mut current = Some(dir);
    while let Some(path) = current {
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o005 != 0o005 {
                let _ = std::fs::set_permissions(
                    path,
                    std::fs::Permissions::from_mode((mode | 0o755) & 0o7777),
                );
            }
        }
        current = path.parent();
    }
}

impl Dovecot {
    pub fn start() -> Self {
        Self::start_with(false, None)
    }

    /// A server that also accepts `AUTHENTICATE XOAUTH2` / `OAUTHBEARER`: Dovecot's `oauth2`
    /// passdb checks each bearer token by POSTing `token=...` to `introspection_url` (RFC 7662:
    /// it wants `{"active": true, "username": "alice"}`). `LOGIN` with [`PASSWORD`] still works.
    pub fn start_oauth2(introspection_url: &str) -> Self {
        Self::start_with(false, Some(introspection_url))
    }

    /// A server with a certificate signed by a throw-away CA ([`Dovecot::tls`]): STARTTLS on
    /// [`Dovecot::port`], implicit TLS on [`Dovecot::tls_port`].
    pub fn start_tls() -> Self {
        Self::start_with(true, None)
    }

    fn start_with(tls: bool, oauth2: Option<&str>) -> Self {
        require_dovecot();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        open_path(&root);
        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir_all(root.join(sub)).expect("dovecot dirs");
        }
        std::fs::write(root.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n"))
            .expect("passwd");
        if let Some(url) = oauth2 {
            std::fs::write(
                root.join("dovecot-oauth2.conf.ext"),
                format!(
                    "introspection_url = {url}\nintrospection_mode = post\n\
                     force_introspection = yes\nusername_attribute = username\n\
                     active_attribute = active\nactive_value = true\ntimeout_msecs = 10000\n"
                ),
            )
            .expect("dovecot-oauth2.conf.ext");
        }
        run(Command::new("chown")
            .arg("-R")
            .arg("dovecot:dovecot")
            .arg(root.join("mail"))
            .arg(root.join("home")));
        let conf = root.join("dovecot.conf");
        let tls = tls.then(|| make_certificates(&root.join("tls")));
        let mut server = Dovecot {
            _dir: dir,
            root,
            conf,
            port: 0,
            tls_port: 0,
            tls,
            child: None,
        };
        // A port taken between probing and binding makes dovecot fail: try a few.
        for _ in 0..5 {
            server.port = free_port();
            let mut text = TEMPLATE.to_owned();
            if server.tls.is_some() {
                server.tls_port = free_port();
                text = text
                    .replace(
                        "ssl = no",
                        "ssl = yes\nssl_cert = <@ROOT@/tls/server.pem\nssl_key = <@ROOT@/tls/server.key",
                    )
                    .replace("port = 0", &format!("port = {}", server.tls_port));
            }
            if oauth2.is_some() {
                // The oauth2 passdb answers the bearer mechanisms, passwd-file the others.
                text = text
                    .replace(
                        "auth_mechanisms = plain login",
                        "auth_mechanisms = plain login xoauth2 oauthbearer",
                    )
                    .replace(
                        "passdb {\n  driver = passwd-file\n",
                        "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
                         args = @ROOT@/dovecot-oauth2.conf.ext\n}\n\
                         passdb {\n  driver = passwd-file\n  mechanisms = plain login\n",
                    );
                assert!(text.contains("driver = oauth2"), "template changed: {text}");
            }
            let text = text
                .replace("@ROOT@", server.root.to_str().expect("utf-8 path"))
                .replace("@PORT@", &server.port.to_string());
            std::fs::write(&server.conf, text).expect("dovecot.conf");
            let log = std::fs::File::create(server.root.join("stderr.log")).expect("log");
            let child = Command::new("dovecot")
                .arg("-F")
                .arg("-c")
                .arg(&server.conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start dovecot");
            server.child = Some(child);
            if server.wait_ready(Duration::from_secs(15)) {
                return server;
            }
            server.stop();
            eprintln!(
                "dovecot did not start on port {}; retrying. logs:\n{}",
                server.port,
                server.logs()
            );
        }
        panic!("dovecot did not start: {}", server.logs());
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && (self.tls_port == 0
                    || std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok())
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["stderr.log", "dovecot.log"] {
            if let Ok(text) = std::fs::read_to_string(self.root.join(name)) {
                out.push_str(&text);
            }
        }
        out
    }

    fn doveadm(&self, args: &[&str]) {
        run(Command::new("doveadm").arg("-c").arg(&self.conf).args(args));
    }

    /// Disconnects every IMAP session of the user (as an admin or a crashing server would).
    pub fn kick(&self) {
        self.doveadm(&["kick", USER]);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Connector options for this server (plain on loopback, small batches).
    pub fn options(&self, password: &str) -> ImapOptions {
        let password = password.to_owned();
        let mut opts = ImapOptions::new(
            "127.0.0.1",
            USER,
            Arc::new(move || Ok::<_, String>(password.clone())),
        );
        opts.port = self.port;
        opts.security = Security::Plain;
        opts.poll_interval = Duration::from_secs(3600);
        opts.io_timeout = Duration::from_secs(20);
        opts
    }

    /// A test client session, logged in.
    pub async fn client(&self) -> Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to dovecot");
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A small RFC 5322 message.
pub fn message(id: &str, subject: &str, text: &str) -> String {
    format!(
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}@imap.test>\r\nDate: Mon, 3 Jun 2024 10:00:00 +0000\r\n\r\n{text}\r\n"
    )
}

/// Test-side IMAP helpers.
pub struct Mail {
    pub session: Session<TcpStream>,
}

impl Mail {
    pub async fn new(server: &Dovecot) -> Self {
        Mail {
            session: server.client().await,
        }
    }

    pub async fn create(&mut self, folder: &str) {
        self.session.create(folder).await.expect("create folder");
    }

    /// Appends a message and returns its UID.
    pub async fn append(&mut self, folder: &str, id: &str, subject: &str, text: &str) -> u32 {
        self.session
            .append(folder, None, None, message(id, subject, text))
            .await
            .expect("append");
        self.uid_of(folder, id).await
    }

    pub async fn uid_of(&mut self, folder: &str, id: &str) -> u32 {
        self.session.select(folder).await.expect("select");
        let uids = self
            .session
            .uid_search(format!("HEADER Message-ID \"<{id}@imap.test>\""))
            .await
            .expect("search");
        let uid = uids.into_iter().max().expect("appended message found");
        self.session.close().await.expect("close");
        uid
    }

    pub async fn uidvalidity(&mut self, folder: &str) -> u32 {
        let mailbox = self.session.examine(folder).await.expect("examine");
        self.session.close().await.expect("close");
        mailbox.uid_validity.expect("uidvalidity")
    }

    pub async fn store(&mut self, folder: &str, uid: u32, flags: &str) {
        self.session.select(folder).await.expect("select");
        let _: Vec<_> = self
            .session
            .uid_store(uid.to_string(), flags)
            .await
            .expect("store")
            .try_collect()
            .await
            .expect("store");
        self.session.close().await.expect("close");
    }

    /// Flags of `uid` as the server has them (to check nothing was marked seen).
    pub async fn flags(&mut self, folder: &str, uid: u32) -> Vec<String> {
        self.session.examine(folder).await.expect("examine");
        let fetches: Vec<_> = self
            .session
            .uid_fetch(uid.to_string(), "(FLAGS)")
            .await
            .expect("fetch")
            .try_collect()
            .await
            .expect("fetch");
        self.session.close().await.expect("close");
        fetches
            .iter()
            .flat_map(|f| f.flags().map(|flag| format!("{flag:?}")))
            .collect()
    }

    /// Marks `uid` deleted and expunges it.
    pub async fn expunge(&mut self, folder: &str, uid: u32) {
        self.session.select(folder).await.expect("select");
        let _: Vec<_> = self
            .session
            .uid_store(uid.to_string(), "+FLAGS (\\Deleted)")
            .await
            .expect("store")
            .try_collect()
            .await
            .expect("store");
        let _: Vec<_> = self
            .session
            .expunge()
            .await
            .expect("expunge")
            .try_collect()
            .await
            .expect("expunge");
        self.session.close().await.expect("close");
    }

    pub async fn delete_folder(&mut self, folder: &str) {
        self.session.delete(folder).await.expect("delete folder");
    }

    pub async fn rename(&mut self, from: &str, to: &str) {
        self.session.rename(from, to).await.expect("rename folder");
    }
}
