//! An orders API protected by `portcullis-resource`: what an API team writes to accept
//! Portcullis access tokens.
//!
//! - `GET /orders` needs `read:orders`, `POST /orders` needs `write:orders` (one
//!   [`RequireAccessToken`] layer per route); the handlers take the validated
//!   [`AccessToken`] as an extractor.
//! - Orders are kept in memory, by the token's `sub` (the user, or the client for a
//!   client credentials token).
//! - `GET /.well-known/oauth-protected-resource/orders` is the RFC 9728 metadata
//!   document; every `WWW-Authenticate` challenge points to it.
//!
//! Run, with `portcullis serve --dev` running: `cargo run -p portcullis --example orders_api`
//! (listens on 127.0.0.1:9090; its resource identifier, the `aud` its tokens must
//! name, is `http://127.0.0.1:9090/orders`).
#![allow(missing_docs)]

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, handler::Handler};
use clap::Parser;
use portcullis_resource::{AccessToken, ProtectedResourceMetadata, RequireAccessToken, Validator};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The demo orders API.
#[derive(Debug, Parser)]
struct Args {
    /// The issuer whose access tokens the API accepts.
    #[arg(
        long,
        env = "PORTCULLIS_ISSUER",
        default_value = "http://127.0.0.1:8080"
    )]
    issuer: String,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// This API's resource identifier (RFC 8707): the `aud` its tokens must name.
    #[arg(long, default_value = "http://127.0.0.1:9090/orders")]
    audience: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orders_api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let validator = Validator::builder(&args.issuer, &args.audience).build()?;
    // Fetch the issuer's keys now, so a wrong issuer shows at start; the API still
    // starts without them and fetches on the first request.
    if let Err(e) = validator.key_store().preload().await {
        eprintln!("orders_api: the issuer's keys are not available yet: {e}");
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "orders API on http://{} (audience {}, issuer {})",
        listener.local_addr()?,
        args.audience,
        args.issuer
    );
    axum::serve(listener, router(validator, Arc::new(Orders::default()))).await?;
    Ok(())
}

/// The API: `GET`/`POST /orders` behind per-route scope checks, and the RFC 9728
/// metadata document (public). The validator's audience is the resource identifier.
pub fn router(validator: Validator, orders: Arc<Orders>) -> Router {
    let metadata = ProtectedResourceMetadata::new(validator.audience(), validator.issuer())
        .scopes_supported([READ_ORDERS, WRITE_ORDERS])
        .resource_name("Demo orders API");
    let require = match metadata.metadata_url() {
        Some(url) => RequireAccessToken::new(validator).resource_metadata(url),
        None => RequireAccessToken::new(validator),
    };
    Router::new()
        .route(
            "/orders",
            get(orders_get.layer(require.clone().scopes([READ_ORDERS])))
                .post(orders_post.layer(require.scopes([WRITE_ORDERS]))),
        )
        .with_state(orders)
        .merge(metadata.router())
}

/// `GET /orders`: the orders of the token's subject.
async fn orders_get(State(orders): State<Arc<Orders>>, token: AccessToken) -> Response {
    let Some(owner) = token.subject() else {
        return no_subject();
    };
    Json(OrderList {
        orders: orders.list(owner),
    })
    .into_response()
}

/// `POST /orders` with `{"item": "…", "quantity": n}`: a new order for the token's
/// subject; 201 with the order.
async fn orders_post(
    State(orders): State<Arc<Orders>>,
    token: AccessToken,
    Json(new): Json<NewOrder>,
) -> Response {
    let Some(owner) = token.subject() else {
        return no_subject();
    };
    if new.item.trim().is_empty() || new.item.len() > MAX_ITEM_BYTES {
        return (StatusCode::UNPROCESSABLE_ENTITY, "item: 1 to 200 bytes").into_response();
    }
    if !(1..=MAX_QUANTITY).contains(&new.quantity) {
        return (StatusCode::UNPROCESSABLE_ENTITY, "quantity: 1 to 1000").into_response();
    }
    match orders.create(owner, new) {
        Some(order) => (StatusCode::CREATED, Json(order)).into_response(),
        None => (StatusCode::INSUFFICIENT_STORAGE, "too many orders").into_response(),
    }
}

fn no_subject() -> Response {
    (StatusCode::FORBIDDEN, "the token names no subject").into_response()
}

/// The orders, in memory, by owner (a token's `sub`); bounded.
#[derive(Debug, Default)]
pub struct Orders {
    by_owner: Mutex<HashMap<String, Vec<Order>>>,
    last_id: AtomicU64,
}

impl Orders {
    /// The orders of `owner`, oldest first.
    pub fn list(&self, owner: &str) -> Vec<Order> {
        self.by_owner
            .lock()
            .ok()
            .and_then(|map| map.get(owner).cloned())
            .unwrap_or_default()
    }

    /// Adds an order for `owner`; `None` when the bounds are reached.
    pub fn create(&self, owner: &str, new: NewOrder) -> Option<Order> {
        let mut map = self.by_owner.lock().ok()?;
        if !map.contains_key(owner) && map.len() >= MAX_OWNERS {
            return None;
        }
        let list = map.entry(owner.to_owned()).or_default();
        if list.len() >= MAX_ORDERS_PER_OWNER {
            return None;
        }
        let order = Order {
            id: self.last_id.fetch_add(1, Ordering::SeqCst) + 1,
            item: new.item,
            quantity: new.quantity,
        };
        list.push(order.clone());
        Some(order)
    }
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub item: String,
    pub quantity: u32,
}

/// The body of `POST /orders`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewOrder {
    pub item: String,
    pub quantity: u32,
}

/// The body of `GET /orders`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderList {
    pub orders: Vec<Order>,
}

/// The scope `GET /orders` requires.
pub const READ_ORDERS: &str = "read:orders";
/// The scope `POST /orders` requires.
pub const WRITE_ORDERS: &str = "write:orders";
const MAX_ITEM_BYTES: usize = 200;
const MAX_QUANTITY: u32 = 1000;
const MAX_OWNERS: usize = 10_000;
const MAX_ORDERS_PER_OWNER: usize = 1000;
