//! The `resources` table: a row ([`ResourceRecord`]), its columns and SQL, and
//! [`ResourceStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::{from_json, id_list, record_source, to_json};
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::StoreError;
use portcullis_core::resource::{Resource, ResourceStore};

/// One row of `resources`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct ResourceRecord {
    pub identifier: String,
    pub name: Option<String>,
    pub scopes: String,
    pub default_scopes: String,
    pub dynamic_clients: bool,
    pub scope_descriptions: String,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ResourceRecord {
    /// The row that stores `resource`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if a list cannot be serialized as JSON.
    pub fn encode(resource: &Resource) -> Result<Self, StoreError> {
        Ok(Self {
            identifier: resource.identifier.clone(),
            name: resource.name.clone(),
            scopes: to_json("resources.scopes", &resource.scopes)?,
            default_scopes: to_json("resources.default_scopes", &resource.default_scopes)?,
            dynamic_clients: resource.dynamic_clients,
            scope_descriptions: to_json(
                "resources.scope_descriptions",
                &resource.scope_descriptions,
            )?,
            source: resource.source.as_str().to_owned(),
            created_at: resource.created_at,
            updated_at: resource.updated_at,
        })
    }

    /// The resource this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<Resource, StoreError> {
        Ok(Resource {
            identifier: self.identifier,
            name: self.name,
            scopes: from_json("resources.scopes", &self.scopes)?,
            default_scopes: from_json("resources.default_scopes", &self.default_scopes)?,
            dynamic_clients: self.dynamic_clients,
            scope_descriptions: from_json(
                "resources.scope_descriptions",
                &self.scope_descriptions,
            )?,
            source: record_source("resources.source", &self.source)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Columns of `resources`, in [`ResourceRecord`] order.
macro_rules! resource_columns {
    () => {
        "identifier, name, scopes, default_scopes, dynamic_clients, scope_descriptions, \
         source, created_at, updated_at"
    };
}

/// `INSERT INTO resources`, binding [`resource_columns`] as `$1`…`$9`.
macro_rules! resource_insert {
    () => {
        concat!(
            "INSERT INTO resources (",
            resource_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
    };
}

/// Binds a [`ResourceRecord`] as `$1`…`$9` of [`resource_insert`].
macro_rules! bind_resource {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.identifier)
            .bind(r.name)
            .bind(r.scopes)
            .bind(r.default_scopes)
            .bind(r.dynamic_clients)
            .bind(r.scope_descriptions)
            .bind(r.source)
            .bind(r.created_at)
            .bind(r.updated_at)
    }};
}

/// `$1` = identifier.
const RESOURCE_GET: &str = concat!(
    "SELECT ",
    resource_columns!(),
    " FROM resources WHERE identifier = $1"
);

/// Every resource; identifiers compare by code point on both backends.
const RESOURCE_LIST: &str = concat!(
    "SELECT ",
    resource_columns!(),
    " FROM resources ORDER BY identifier"
);

/// See [`resource_insert`].
const RESOURCE_INSERT: &str = resource_insert!();

/// [`resource_insert`] that replaces every column but `created_at` on an existing one.
const RESOURCE_UPSERT: &str = concat!(
    resource_insert!(),
    " ON CONFLICT (identifier) DO UPDATE SET",
    " name = excluded.name,",
    " scopes = excluded.scopes,",
    " default_scopes = excluded.default_scopes,",
    " dynamic_clients = excluded.dynamic_clients,",
    " scope_descriptions = excluded.scope_descriptions,",
    " source = excluded.source,",
    " updated_at = excluded.updated_at"
);

/// `$1` = identifier.
const RESOURCE_DELETE: &str = "DELETE FROM resources WHERE identifier = $1";

sql_store_impl!(
    ResourceStore,
    async fn resource_get(&self, identifier: &str) -> Result<Option<Resource>, StoreError> {
        sqlx::query_as::<DB, ResourceRecord>(RESOURCE_GET)
            .bind(identifier.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a resource"))?
            .map(ResourceRecord::decode)
            .transpose()
    },
    async fn resource_list(&self) -> Result<Vec<Resource>, StoreError> {
        sqlx::query_as::<DB, ResourceRecord>(RESOURCE_LIST)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing resources"))?
            .into_iter()
            .map(ResourceRecord::decode)
            .collect()
    },
    async fn resource_insert(&self, resource: &Resource) -> Result<(), StoreError> {
        let record = ResourceRecord::encode(resource)?;
        bind_resource!(sqlx::query::<DB>(RESOURCE_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&format!("resource `{}`", resource.identifier)))?;
        Ok(())
    },
    async fn resource_upsert(&self, resource: &Resource) -> Result<(), StoreError> {
        let record = ResourceRecord::encode(resource)?;
        bind_resource!(sqlx::query::<DB>(RESOURCE_UPSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&format!("resource `{}`", resource.identifier)))?;
        Ok(())
    },
    async fn resource_delete(&self, identifier: &str) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(RESOURCE_DELETE)
            .bind(identifier.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify("deleting a resource"))?;
        Ok(DB::rows_affected(&result) > 0)
    },
    async fn resource_delete_config_except(
        &self,
        keep: &[String],
    ) -> Result<Vec<String>, StoreError> {
        // One statement: atomic without a transaction. RETURNING has no defined
        // order, so sort for a stable answer.
        let mut deleted = sqlx::query_scalar::<DB, String>(DB::DELETE_CONFIG_RESOURCES_EXCEPT)
            .bind(id_list(keep)?)
            .fetch_all(&self.pool)
            .await
            .map_err(classify(
                "deleting resources removed from the configuration",
            ))?;
        deleted.sort_unstable();
        Ok(deleted)
    },
);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::client::RecordSource;

    #[test]
    fn round_trips_and_names_a_corrupt_column() {
        let resource = Resource {
            identifier: "https://mcp.example/mcp".into(),
            name: Some("MCP".into()),
            scopes: vec!["tools:read".into(), "tools:call".into()],
            default_scopes: vec!["tools:read".into()],
            dynamic_clients: true,
            scope_descriptions: [("tools:read".to_owned(), "See tools".to_owned())].into(),
            source: RecordSource::Config,
            created_at: 1,
            updated_at: 2,
        };
        let record = ResourceRecord::encode(&resource).unwrap();
        assert_eq!(record.scopes, r#"["tools:read","tools:call"]"#);
        assert_eq!(record.decode().unwrap(), resource);
        let mut record = ResourceRecord::encode(&resource).unwrap();
        record.scope_descriptions = "[1]".into();
        match record.decode() {
            Err(StoreError::Corrupt(what)) => {
                assert!(what.starts_with("resources.scope_descriptions: "), "{what}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
