//! The `revoked_access_tokens` table.

use super::*;

store_cases!(access_token_revoke_is_idempotent_and_keeps_the_first_expiry,);

async fn access_token_revoke_is_idempotent_and_keeps_the_first_expiry(db: Db) {
    let s = &db.store;
    assert!(!s.access_token_is_revoked("jti-1").await.unwrap());
    s.access_token_revoke("jti-1", T0 + 60).await.unwrap();
    s.access_token_revoke("jti-1", T0 + 60).await.unwrap();
    s.access_token_revoke("jti-1", T0 + 999).await.unwrap();
    assert!(s.access_token_is_revoked("jti-1").await.unwrap());
    assert!(!s.access_token_is_revoked("jti-2").await.unwrap());
    assert!(!s.access_token_is_revoked("JTI-1").await.unwrap());
    assert_eq!(
        db.scalar("SELECT expires_at FROM revoked_access_tokens WHERE jti = 'jti-1'")
            .await,
        T0 + 60
    );
}
