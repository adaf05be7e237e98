//! Builds the CRM connectors (`hubspot`, `crm_rest`, `crm_export`) from their settings.

use std::sync::Arc;

use ctx_config::{
    ConnectorConfig, CrmExportSettings, CrmRestSettings, ExportFormatSetting, HubSpotSettings,
    RestAuth, RestPaginationSettings, Secret,
};
use ctx_connector_api::Connector;
use ctx_connector_crm::{
    ExportConnector, ExportFile, ExportFormat, ExportOptions, HubSpotConnector, HubSpotOptions,
    ObjectKind, Pagination, RestConnector, RestObject, RestOptions, TokenSource,
};

/// A token source that resolves the secret on demand; the value never leaves the connector.
fn token_source(secret: &Secret) -> TokenSource {
    let secret = secret.clone();
    Arc::new(move || secret.resolve().map_err(|e| e.to_string()))
}

fn object(name: &str) -> Result<ObjectKind, String> {
    ObjectKind::parse(name).ok_or_else(|| format!("unknown CRM object type `{name}`"))
}

pub fn hubspot(
    config: &ConnectorConfig,
    settings: &HubSpotSettings,
) -> Result<Box<dyn Connector>, String> {
    let mut options = HubSpotOptions::new(Some(token_source(&settings.token)));
    options.base_url = settings.base_url.clone();
    options.objects = settings
        .objects
        .iter()
        .map(|o| object(o))
        .collect::<Result<_, _>>()?;
    for (name, props) in &settings.properties {
        options
            .extra_properties
            .insert(object(name)?, props.clone());
    }
    options.page_size = settings.page_size;
    options.overlap = settings.overlap;
    options.poll_interval = config.poll_interval;
    options.portal_id = settings.portal_id.clone();
    let connector = HubSpotConnector::new(options).map_err(|e| e.to_string())?;
    Ok(Box::new(connector))
}

pub fn rest(
    config: &ConnectorConfig,
    settings: &CrmRestSettings,
) -> Result<Box<dyn Connector>, String> {
    let objects = settings
        .objects
        .iter()
        .map(|o| {
            Ok(RestObject {
                kind: object(&o.object)?,
                path: o.path.clone(),
                incremental_path: o.incremental_path.clone(),
                incremental_param: o.incremental_param.clone(),
                results: o.results.clone(),
                deleted: o.deleted.clone(),
                fields: o.fields.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut options = RestOptions::new(settings.base_url.clone(), objects);
    let (auth, token) = match &settings.auth {
        RestAuth::None => (ctx_connector_crm::RestAuth::None, None),
        RestAuth::Bearer(s) => (ctx_connector_crm::RestAuth::Bearer, Some(token_source(s))),
        RestAuth::Header(name, s) => (
            ctx_connector_crm::RestAuth::Header(name.clone()),
            Some(token_source(s)),
        ),
        RestAuth::Query(name, s) => (
            ctx_connector_crm::RestAuth::Query(name.clone()),
            Some(token_source(s)),
        ),
    };
    options.auth = auth;
    options.token = token;
    options.pagination = match &settings.pagination {
        RestPaginationSettings::Cursor { param, next } => Pagination::Cursor {
            param: param.clone(),
            next: next.clone(),
        },
        RestPaginationSettings::Offset { param, next } => Pagination::Offset {
            param: param.clone(),
            next: next.clone(),
        },
        RestPaginationSettings::Page { param, first } => Pagination::Page {
            param: param.clone(),
            first: *first,
        },
        RestPaginationSettings::LinkHeader => Pagination::LinkHeader,
        RestPaginationSettings::NextUrl { next } => Pagination::NextUrl { next: next.clone() },
    };
    options.limit_param = settings.limit_param.clone();
    options.page_size = settings.page_size;
    options.since_format = settings.since_format.clone();
    options.overlap = settings.overlap;
    options.poll_interval = config.poll_interval;
    let connector = RestConnector::new(options).map_err(|e| e.to_string())?;
    Ok(Box::new(connector))
}

pub fn export(settings: &CrmExportSettings) -> Result<Box<dyn Connector>, String> {
    let files = settings
        .files
        .iter()
        .map(|f| {
            let mut file = ExportFile::new(f.path.clone(), object(&f.object)?);
            file.format = match f.format {
                ExportFormatSetting::Csv => ExportFormat::Csv,
                ExportFormatSetting::Json => ExportFormat::Json,
                ExportFormatSetting::Jsonl => ExportFormat::Jsonl,
            };
            file.fields = f.fields.clone();
            Ok(file)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut options = ExportOptions::new(files);
    options.watch = settings.watch;
    options.debounce = settings.debounce;
    options.max_file_size = settings.max_file_size;
    let connector = ExportConnector::new(options).map_err(|e| e.to_string())?;
    Ok(Box::new(connector))
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_and_connector_agree_on_objects_and_mapping_targets() {
        let targets: Vec<&str> = ctx_connector_crm::export::MAPPING_TARGETS.to_vec();
        assert_eq!(targets, ctx_config::CRM_MAPPING_TARGETS);
        for name in ctx_config::CRM_OBJECTS {
            assert_eq!(
                ctx_connector_crm::ObjectKind::parse(name).map(|k| k.plural()),
                Some(*name)
            );
        }
        assert_eq!(
            ctx_config::CRM_OBJECTS.len(),
            ctx_connector_crm::ObjectKind::ALL.len()
        );
    }
}
