//! The counter slice's ports on both databases: staff and assignments, points, registration
//! codes taken once, acts and their confirmation in one transaction.

use civpass_core::counter::hours::Hours;
use civpass_core::counter::model::{
    ActKind, ActOutcome, CounterAct, PointKind, RegistrationCode, RegistrationPoint, Staff,
    StaffRole,
};
use civpass_core::counter::store::CounterWrites;

use super::*;

fn staff(id: &str) -> Staff {
    Staff {
        id: id.into(),
        name: "Officer Chan".into(),
        role: StaffRole::Officer,
        created_at: 1,
        disabled_at: None,
        public_key: Some("pk".into()),
    }
}

fn point(id: &str) -> RegistrationPoint {
    RegistrationPoint {
        id: id.into(),
        kind: PointKind::PostOffice,
        name_en: "General Post Office".into(),
        name_zh_hant: "郵政總局".into(),
        name_zh_hans: "邮政总局".into(),
        district: "Central and Western".into(),
        hours: Hours::parse_weekly("mon-fri 09:00-17:30").unwrap(),
        created_at: 1,
    }
}

fn act(id: &str, outcome: ActOutcome, expires_at: i64) -> CounterAct {
    CounterAct {
        id: id.into(),
        kind: ActKind::Register,
        staff_id: "s1".into(),
        point_id: "p1".into(),
        at: 10,
        outcome,
        account_id: Some("a-new".into()),
        public_key: Some("pk-new".into()),
        device_id: None,
        hkid_hash: Some("h-new".into()),
        sealed_details: Some(vec![1, 2, 3]),
        expires_at: Some(expires_at),
        decided_at: None,
    }
}

#[tokio::test]
async fn staff_points_and_assignments_round_trip() {
    for (_db, store) in stores().await {
        store.insert_staff(&staff("s1")).await.unwrap();
        store.insert_point(&point("p1")).await.unwrap();
        assert_eq!(store.find_staff("s1").await.unwrap(), Some(staff("s1")));
        assert_eq!(store.find_point("p1").await.unwrap(), Some(point("p1")));
        assert!(store.find_staff("nobody").await.unwrap().is_none());
        assert!(store.assign_staff("s1", "p1", 5).await.unwrap());
        assert!(!store.assign_staff("s1", "p1", 6).await.unwrap(), "once");
        assert_eq!(store.assignments("s1").await.unwrap(), vec!["p1".to_owned()]);
        assert!(store.disable_staff("s1", 7).await.unwrap());
        assert!(!store.disable_staff("s1", 8).await.unwrap(), "once");
        assert_eq!(store.find_staff("s1").await.unwrap().unwrap().disabled_at, Some(7));
        assert_eq!(store.list_points().await.unwrap().len(), 1);
        assert_eq!(store.list_staff().await.unwrap().len(), 1);
        assert!(matches!(store.insert_staff(&staff("s1")).await, Err(StoreError::Conflict(_))));
    }
}

#[tokio::test]
async fn a_registration_code_is_taken_once_and_only_before_it_expires() {
    for (_db, store) in stores().await {
        let code = RegistrationCode {
            code_hash: "c".into(),
            public_key: "pk".into(),
            device_id: None,
            expires_at: 100,
        };
        store.insert_registration_code(&code).await.unwrap();
        let late = RegistrationCode { code_hash: "late".into(), ..code.clone() };
        store.insert_registration_code(&late).await.unwrap();
        assert!(store.take_registration_code("late", 100).await.unwrap().is_none(), "expired");
        assert_eq!(store.take_registration_code("c", 50).await.unwrap(), Some(code));
        assert!(store.take_registration_code("c", 51).await.unwrap().is_none(), "used");
        assert_eq!(store.delete_registration_codes_before(101).await.unwrap(), 2);
    }
}

#[tokio::test]
async fn a_confirmation_decides_the_act_and_creates_the_account_together_or_not_at_all() {
    for (_db, store) in stores().await {
        store.insert_staff(&staff("s1")).await.unwrap();
        store.insert_point(&point("p1")).await.unwrap();
        store.insert_counter_act(&act("ca1", ActOutcome::AwaitingCitizen, 100)).await.unwrap();
        store.insert_counter_act(&act("ca2", ActOutcome::NoSuchPerson, 100)).await.unwrap();
        assert_eq!(store.acts_awaiting("pk-new", 50).await.unwrap().len(), 1);
        assert!(store.acts_awaiting("pk-new", 100).await.unwrap().is_empty(), "expired");

        // The account's insert fails (its identity is taken): the decision is rolled back.
        let (taken, device) = account("a-old", "h-new");
        store.insert_account(&taken, &device, &evidence("a-old")).await.unwrap();
        let confirm = |store: SqlStore, account_id: &'static str| async move {
            let (mut new, mut device) = account(account_id, "h-new");
            new.tier = Tier::Plus;
            device.id = format!("d-{account_id}-2").into();
            transact::<CounterWrites, _, _, _>(&store, move |tx| {
                Box::pin(async move {
                    if !tx
                        .decide_counter_act("ca1", ActOutcome::Confirmed, Some(&new.id), 60)
                        .await?
                    {
                        return Ok(false);
                    }
                    tx.insert_account(&new, &device, &evidence(new.id.as_str())).await?;
                    Ok(true)
                })
            })
            .await
        };
        assert!(matches!(confirm(store.clone(), "a-new").await, Err(StoreError::Conflict(_))));
        let still = store.find_counter_act("ca1").await.unwrap().unwrap();
        assert_eq!(still.outcome, ActOutcome::AwaitingCitizen);

        // A fresh identity: decided and created together, and only once.
        let mut other = act("ca3", ActOutcome::AwaitingCitizen, 100);
        other.hkid_hash = Some("h-other".into());
        store.insert_counter_act(&other).await.unwrap();
        let decided = transact::<CounterWrites, _, _, _>(&store, |tx| {
            Box::pin(async move {
                let ok = tx.decide_counter_act("ca3", ActOutcome::Confirmed, None, 60).await?;
                let again = tx.decide_counter_act("ca3", ActOutcome::Confirmed, None, 61).await?;
                Ok((ok, again))
            })
        })
        .await
        .unwrap();
        assert_eq!(decided, (true, false));
        let done = store.find_counter_act("ca3").await.unwrap().unwrap();
        assert_eq!((done.outcome, done.decided_at), (ActOutcome::Confirmed, Some(60)));

        // A tier changes only from what it was.
        let raised = transact::<CounterWrites, _, _, _>(&store, |tx| {
            Box::pin(async move {
                let first = tx.change_tier(&"a-old".into(), Tier::Basic, Tier::Plus).await?;
                let second = tx.change_tier(&"a-old".into(), Tier::Basic, Tier::Plus).await?;
                Ok((first, second))
            })
        })
        .await
        .unwrap();
        assert_eq!(raised, (true, false));
        assert_eq!(store.get_account(&"a-old".into()).await.unwrap().tier, Tier::Plus);
        assert_eq!(store.list_counter_acts(0).await.unwrap().len(), 3);
    }
}
