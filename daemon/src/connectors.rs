//! Builds connectors from their validated configuration: the one place that knows every
//! connector crate.

use std::sync::Arc;

use ctx_config::{ConnectorConfig, ConnectorSettings};
use ctx_connector_api::Connector;

/// A connector for `config`, or a message saying why it cannot be built.
pub fn build(config: &ConnectorConfig) -> Result<Box<dyn Connector>, String> {
    match &config.settings {
        ConnectorSettings::Files(files) => {
            let mut options = ctx_connector_files::FilesOptions::new(files.paths.clone());
            options.include = files.include.clone();
            options.exclude = files.exclude.clone();
            options.max_file_size = files.max_file_size;
            options.watch = files.watch;
            options.debounce = files.debounce;
            options.follow_symlinks = files.follow_symlinks;
            options.extract_timeout = files.extract_timeout;
            let connector =
                ctx_connector_files::FilesConnector::new(options).map_err(|e| e.to_string())?;
            Ok(Box::new(connector))
        }
        ConnectorSettings::Maildir(maildir) => {
            let mut options = ctx_connector_mail::MaildirOptions::new(maildir.path.clone());
            options.include_folders = maildir.include_folders.clone();
            options.exclude_folders = maildir.exclude_folders.clone();
            options.watch = maildir.watch;
            options.debounce = maildir.debounce;
            options.limits.max_message_bytes = maildir.max_message_size;
            let connector =
                ctx_connector_mail::MaildirConnector::new(options).map_err(|e| e.to_string())?;
            Ok(Box::new(connector))
        }
        ConnectorSettings::Imap(imap) => {
            use ctx_connector_mail::{ImapAuth, SecretSource, Security};
            let (auth, secret) = match &imap.login {
                ctx_config::ImapLogin::Password(secret) => (ImapAuth::Password, secret.clone()),
                ctx_config::ImapLogin::XOAuth2(secret) => (ImapAuth::XOAuth2, secret.clone()),
            };
            // Resolved on every (re)connect; the value never leaves the connector.
            let source: SecretSource =
                Arc::new(move || secret.resolve().map_err(|e| e.to_string()));
            let mut options =
                ctx_connector_mail::ImapOptions::new(imap.host.clone(), imap.user.clone(), source);
            options.port = imap.port;
            options.security = match imap.security {
                ctx_config::ImapSecurity::Tls => Security::Tls,
                ctx_config::ImapSecurity::StartTls => Security::StartTls,
                ctx_config::ImapSecurity::Plain => Security::Plain,
            };
            options.auth = auth;
            options.include_folders = imap.include_folders.clone();
            options.exclude_folders = imap.exclude_folders.clone();
            options.poll_interval = config.poll_interval;
            options.batch_size = imap.batch_size;
            options.tls_ca_file = imap.tls_ca_file.clone();
            options.limits.max_message_bytes = imap.max_message_size;
            Ok(Box::new(ctx_connector_mail::ImapConnector::new(options)))
        }
        ConnectorSettings::Ics(ics) => {
            let mut options = ctx_connector_calendar::IcsOptions::new(ics.paths.clone());
            options.urls = ics.urls.clone();
            options.watch = ics.watch;
            options.debounce = ics.debounce;
            options.poll_interval = config.poll_interval;
            options.max_file_size = ics.max_file_size;
            options.render = options
                .render
                .with_window(ics.window_past, ics.window_ahead);
            options.render.floating_zone =
                ics.timezone.or_else(ctx_connector_calendar::system_zone);
            let connector =
                ctx_connector_calendar::IcsConnector::new(options).map_err(|e| e.to_string())?;
            Ok(Box::new(connector))
        }
        ConnectorSettings::CalDav(dav) | ConnectorSettings::CardDav(dav) => {
            use ctx_connector_calendar::{DavConnector, DavKind, DavOptions, PasswordSource};
            let mut options = DavOptions::new(dav.url.clone());
            options.user = dav.user.clone();
            options.password = dav.password.clone().map(|secret| {
                // Resolved at the start of every pass; the value never leaves the connector.
                let source: PasswordSource =
                    Arc::new(move || secret.resolve().map_err(|e| e.to_string()));
                source
            });
            options.collections = dav.collections.clone();
            options.poll_interval = config.poll_interval;
            options.render = options
                .render
                .with_window(dav.window_past, dav.window_ahead);
            options.render.floating_zone =
                dav.timezone.or_else(ctx_connector_calendar::system_zone);
            let kind = if matches!(config.settings, ConnectorSettings::CalDav(_)) {
                DavKind::CalDav
            } else {
                DavKind::CardDav
            };
            let connector = DavConnector::new(kind, options).map_err(|e| e.to_string())?;
            Ok(Box::new(connector))
        }
        ConnectorSettings::HubSpot(hubspot) => crate::connectors_crm::hubspot(config, hubspot),
        ConnectorSettings::CrmRest(rest) => crate::connectors_crm::rest(config, rest),
        ConnectorSettings::CrmExport(export) => crate::connectors_crm::export(export),
        ConnectorSettings::Mbox(mbox) => {
            let mut options = ctx_connector_mail::MboxOptions::new(mbox.path.clone());
            options.watch = mbox.watch;
            options.debounce = mbox.debounce;
            options.limits.max_message_bytes = mbox.max_message_size;
            let connector =
                ctx_connector_mail::MboxConnector::new(options).map_err(|e| e.to_string())?;
            Ok(Box::new(connector))
        }
    }
}
