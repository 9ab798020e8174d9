//! The `dpop_proofs` table: the replay record of DPoP proofs (RFC 9449 §11.1).

use super::*;
use portcullis_core::dpop::proof_digest;

store_cases!(
    a_proof_is_recorded_once,
    a_proof_is_recorded_once_across_two_stores_racing,
    used_proofs_are_purged_after_their_window,
);

async fn a_proof_is_recorded_once(db: Db) {
    let s = &db.store;
    let proof = proof_digest("jkt-1", "https://id.example/token", "jti-1");
    assert!(s.dpop_proof_record(&proof, T0 + 305).await.unwrap());
    assert!(
        !s.dpop_proof_record(&proof, T0 + 305).await.unwrap(),
        "a replay"
    );
    assert!(!s.dpop_proof_record(&proof, T0 + 999).await.unwrap());
    // Another key, URL or jti is another proof.
    for other in [
        proof_digest("jkt-2", "https://id.example/token", "jti-1"),
        proof_digest("jkt-1", "https://id.example/userinfo", "jti-1"),
        proof_digest("jkt-1", "https://id.example/token", "jti-2"),
    ] {
        assert!(s.dpop_proof_record(&other, T0 + 305).await.unwrap());
    }
    assert_eq!(db.scalar("SELECT count(*) FROM dpop_proofs").await, 4);
    assert_eq!(
        db.scalar("SELECT max(expires_at) FROM dpop_proofs").await,
        T0 + 305,
        "the first record's expiry is kept"
    );
}

async fn a_proof_is_recorded_once_across_two_stores_racing(db: Db) {
    let other = db.reopen().await;
    let stores = [Arc::clone(&db.store), other];
    let proof = proof_digest("jkt", "https://id.example/token", "raced");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&stores[i % 2]);
        tasks.push(tokio::spawn(async move {
            store.dpop_proof_record(&proof, T0 + 300).await.unwrap()
        }));
    }
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one node accepts a proof");
}

async fn used_proofs_are_purged_after_their_window(db: Db) {
    let s = &db.store;
    let early = proof_digest("k", "https://id.example/token", "early");
    let late = proof_digest("k", "https://id.example/token", "late");
    s.dpop_proof_record(&early, T0 + 10).await.unwrap();
    s.dpop_proof_record(&late, T0 + 20).await.unwrap();
    assert_eq!(s.purge_expired(T0 + 9, 100).await.unwrap().dpop_proofs, 0);
    assert_eq!(s.purge_expired(T0 + 10, 100).await.unwrap().dpop_proofs, 1);
    assert_eq!(db.scalar("SELECT count(*) FROM dpop_proofs").await, 1);
    assert!(
        !s.dpop_proof_record(&late, T0 + 20).await.unwrap(),
        "kept until its expiry"
    );
    assert_eq!(s.purge_expired(T0 + 20, 100).await.unwrap().dpop_proofs, 1);
    assert!(
        s.dpop_proof_record(&early, T0 + 30).await.unwrap(),
        "purged: its window has passed anyway"
    );
}
