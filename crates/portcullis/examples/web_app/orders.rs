//! The orders API, called with the session's access token; one refresh and one retry
//! when it answers 401.

use super::app::WebApp;
use super::pages::AppError;
use super::sessions::Session;
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// One order, as the orders API lists it.
#[derive(Debug, Deserialize)]
pub struct Order {
    pub id: u64,
    pub item: String,
    pub quantity: u32,
}

impl WebApp {
    /// The user's orders: one call with the access token; on a 401, one refresh token
    /// grant and one retry.
    pub(super) async fn orders(&self, session: &mut Session) -> Result<Vec<Order>, AppError> {
        match self.call_orders(&session.access_token).await? {
            OrdersAnswer::Orders(orders) => return Ok(orders),
            OrdersAnswer::Forbidden => return Err(AppError::Forbidden),
            OrdersAnswer::Unauthorized => {}
        }
        self.refresh(session).await?;
        match self.call_orders(&session.access_token).await? {
            OrdersAnswer::Orders(orders) => Ok(orders),
            OrdersAnswer::Forbidden => Err(AppError::Forbidden),
            OrdersAnswer::Unauthorized => Err(AppError::SessionEnded),
        }
    }

    async fn call_orders(&self, access_token: &SecretString) -> Result<OrdersAnswer, AppError> {
        let response = self
            .http
            .0
            .get(&self.config.orders_url)
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(|e| AppError::Api(e.without_url().to_string()))?;
        match response.status() {
            StatusCode::OK => {
                let list: OrderList = response
                    .json()
                    .await
                    .map_err(|e| AppError::Api(e.without_url().to_string()))?;
                Ok(OrdersAnswer::Orders(list.orders))
            }
            StatusCode::UNAUTHORIZED => Ok(OrdersAnswer::Unauthorized),
            StatusCode::FORBIDDEN => Ok(OrdersAnswer::Forbidden),
            other => Err(AppError::Api(format!("the orders API answered {other}"))),
        }
    }
}

/// `GET /orders` of the orders API.
#[derive(Debug, Deserialize)]
struct OrderList {
    orders: Vec<Order>,
}

enum OrdersAnswer {
    Orders(Vec<Order>),
    Unauthorized,
    Forbidden,
}
