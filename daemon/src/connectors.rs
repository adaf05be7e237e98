//! Builds connectors from their validated configuration: the one place that knows every
//! connector crate.

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
