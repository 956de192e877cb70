//! Conformance of `ReplayStore` on both databases.

use super::*;

#[tokio::test]
async fn a_dpop_proof_id_is_used_once_and_a_grant_keeps_its_key() {
    for (_db, store) in stores().await {
        assert!(store.use_dpop_proof("p1", 100).await.unwrap());
        assert!(!store.use_dpop_proof("p1", 100).await.unwrap(), "a replay");
        assert_eq!(store.delete_dpop_proofs_expired_before(100).await.unwrap(), 0);
        assert_eq!(store.delete_dpop_proofs_expired_before(101).await.unwrap(), 1);
        assert!(store.use_dpop_proof("p1", 300).await.unwrap(), "forgotten once expired");
    }
}
