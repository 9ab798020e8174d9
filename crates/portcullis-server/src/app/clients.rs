//! A bounded, short-lived cache of clients and registered resources in front of the
//! store, so the client credentials path does no database read per request.
//!
//! Propagation: a change made by the admin CLI or another node (delete, secret
//! rotation, new scopes) is seen by this node within [`CLIENT_CACHE_TTL`]. Unknown
//! client ids are not cached, so a newly created client works at once. Resources are
//! cached present or absent (only identifiers among a client's audiences are looked
//! up, so the absent ones are bounded too): a resource created or deleted with the CLI
//! counts within [`CLIENT_CACHE_TTL`].
//!
//! A `client_id` that is an https URL and not a configured or admin client is a client
//! ID metadata document ([`metadata_documents`]) when `[registration]
//! client_id_metadata_documents` is on: it has its own cache, bounded by the document's
//! `Cache-Control`.

pub mod jwks_uri;
pub mod metadata_documents;

use async_trait::async_trait;
use metadata_documents::MetadataDocuments;
use moka::sync::Cache;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::authentication::assertion::ClientAssertionVerifier;
use portcullis_core::client::{Client, RecordSource};
use portcullis_core::resource::{Resource, narrow_self_registered};
use portcullis_core::secret::DigestKey;
use portcullis_core::store::StoreError;
use portcullis_core::{Clock, Store};
use std::sync::Arc;
use std::time::Duration;

/// How long a cached client is trusted before it is read again.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);
/// At most this many clients are cached (memory bound).
pub const CLIENT_CACHE_CAPACITY: u64 = 10_000;

/// Store-backed client directory with a bounded TTL cache.
pub struct ClientCache {
    store: Arc<dyn Store>,
    cache: Cache<String, Arc<Client>>,
    resources: Cache<String, Option<Arc<Resource>>>,
    secret_key: Arc<DigestKey>,
    clock: Arc<dyn Clock>,
    metadata_documents: Option<MetadataDocuments>,
    assertions: ClientAssertionVerifier,
}

impl ClientCache {
    /// A cache in front of `store`; `secret_key` checks keyed client-secret digests
    /// ([`ClientDirectory::client_secret_key`]), `assertions` checks `private_key_jwt`
    /// assertions ([`ClientDirectory::client_assertions`]); `metadata_documents` (when
    /// on) finds clients by their metadata document URL; `clock` dates its cache entries.
    pub fn new(
        store: Arc<dyn Store>,
        secret_key: Arc<DigestKey>,
        assertions: ClientAssertionVerifier,
        clock: Arc<dyn Clock>,
        metadata_documents: Option<MetadataDocuments>,
    ) -> Self {
        let cache = Cache::builder()
            .max_capacity(CLIENT_CACHE_CAPACITY)
            .time_to_live(CLIENT_CACHE_TTL)
            .build();
        let resources = Cache::builder()
            .max_capacity(CLIENT_CACHE_CAPACITY)
            .time_to_live(CLIENT_CACHE_TTL)
            .build();
        Self {
            store,
            cache,
            resources,
            secret_key,
            clock,
            metadata_documents,
            assertions,
        }
    }

    /// Drops a client from this node's cache (after a local change).
    pub fn invalidate(&self, client_id: &str) {
        self.cache.invalidate(client_id);
    }

    /// A client known by its metadata document (`stored`: its stored copy, if any). The
    /// stored copy is never used as is: the document decides (its cached copy while
    /// fresh; fetched again when it expired, or when no row is stored, so codes and
    /// tokens always find the row they refer to), and with the switch off the client is
    /// unknown. Not put in the short cache: the document's own cache (on the server's
    /// clock) decides when it is fetched again.
    async fn find_by_document(
        &self,
        client_id: &str,
        stored: Option<Client>,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        let Some(documents) = self
            .metadata_documents
            .as_ref()
            .filter(|_| MetadataDocuments::claims(client_id))
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        match stored
            .as_ref()
            .and_then(|_| documents.cached(client_id, now))
        {
            Some(client) => Ok(Some(client)),
            None => documents.resolve(client_id, stored.as_ref(), now).await,
        }
    }
}

impl ClientCache {
    /// A self-registered client held to the resources open to such clients now
    /// ([`narrow_self_registered`]), read through the resource cache: a resource
    /// closed or deleted with the CLI narrows such clients within
    /// [`CLIENT_CACHE_TTL`]. Other clients are returned as they are.
    async fn narrowed(&self, client: Client) -> Result<Client, StoreError> {
        if !client.is_self_registered() {
            return Ok(client);
        }
        let mut found = Vec::with_capacity(client.audiences.len());
        for audience in &client.audiences {
            if let Some(resource) = self.find_resource(audience).await? {
                found.push(Arc::unwrap_or_clone(resource));
            }
        }
        Ok(narrow_self_registered(client, &found))
    }
}

#[async_trait]
impl ClientDirectory for ClientCache {
    async fn find_client(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.cache.get(client_id) {
            return Ok(Some(client));
        }
        // The store first: a configured or admin client with this id outranks any
        // metadata document copy (why: otherwise a document cached for up to a day would
        // shadow a client the operator registered under the same URL).
        match self.store.client_get(client_id).await? {
            Some(client) if client.source != RecordSource::MetadataDocument => {
                // `[registration] unused_client_ttl`: a dynamic client read from the
                // store is in use. At most one write a day per client (the store's
                // condition), and at most one attempt per cache lifetime per node; a
                // failure only delays it.
                if client.source == RecordSource::Dynamic
                    && let Err(error) = self
                        .store
                        .dynamic_client_touch(client_id, self.clock.now())
                        .await
                {
                    tracing::warn!(%error, client_id, "recording a dynamic client's use failed");
                }
                let client = Arc::new(self.narrowed(client).await?);
                self.cache.insert(client_id.to_owned(), Arc::clone(&client));
                Ok(Some(client))
            }
            stored => match self.find_by_document(client_id, stored).await? {
                Some(client) => Ok(Some(Arc::new(
                    self.narrowed(Arc::unwrap_or_clone(client)).await?,
                ))),
                None => Ok(None),
            },
        }
    }

    async fn find_resource(&self, identifier: &str) -> Result<Option<Arc<Resource>>, StoreError> {
        if let Some(resource) = self.resources.get(identifier) {
            return Ok(resource);
        }
        let resource = self.store.resource_get(identifier).await?.map(Arc::new);
        self.resources
            .insert(identifier.to_owned(), resource.clone());
        Ok(resource)
    }

    fn client_secret_key(&self) -> Option<&DigestKey> {
        Some(&self.secret_key)
    }

    fn client_assertions(&self) -> Option<&ClientAssertionVerifier> {
        Some(&self.assertions)
    }
}
