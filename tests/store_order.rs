//! SORT and THREAD keys through the store: derived from the index's envelopes (and, for
//! References, the header blocks) the first time an ordering asks, then answered from memory
//! with the message's current index data, left out once the message is gone, kept across a
//! RENAME, and derived the same again after a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ringpost::mail::order::OrderFields;
use ringpost::mail::{FlagMode, Flags, MessageMeta, SystemFlags, Uid};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::Store;

mod store_support;
use store_support::{run, small};

const A: &str = "dave@example.com";

fn message(id: &str, extra: &str, subject: &str, date: &str) -> Vec<u8> {
    format!(
        "From: \"Ann B\" <Ann@Example.org>\r\nTo: bob@example.org\r\nMessage-ID: <{id}>\r\n\
         {extra}Subject: {subject}\r\nDate: {date}\r\n\r\nbody of {id}\r\n"
    )
    .into_bytes()
}

fn uids(v: &[u32]) -> Vec<Uid> {
    v.iter().map(|&u| Uid(u)).collect()
}

fn refs(keys: &OrderFields) -> Option<Vec<&str>> {
    keys.references
        .as_ref()
        .map(|r| r.iter().map(|s| &**s).collect())
}

type Ordered = Vec<(MessageMeta, Arc<OrderFields>)>;

#[test]
fn keys_are_derived_once_and_follow_the_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        store.open_account(A).await.unwrap();
        let inbox = [
            message("a@x", "", "Lunch", "Wed, 01 Jan 2020 10:00:00 +0000"),
            message(
                "b@x",
                "In-Reply-To: <a@x>\r\n",
                "Re: [team] lunch",
                "Wed, 01 Jan 2020 12:00:00 +0200",
            ),
            message(
                "c@x",
                "References: <a@x>\r\n <b@x>\r\nIn-Reply-To: <b@x>\r\n",
                "=?UTF-8?Q?Re:_Caf=C3=A9?=",
                "not a date",
            ),
        ];
        for m in &inbox {
            store
                .append(A, "INBOX", m, Flags::default(), 1_700_000_000)
                .await
                .unwrap();
        }
        store.create_mailbox(A, "Other").await.unwrap();
        store
            .append(A, "Other", &inbox[0], Flags::default(), 0)
            .await
            .unwrap();

        // From the envelopes alone: no References yet; UIDs not there are left out.
        let first: Ordered = store
            .order_fields(A, "INBOX", &uids(&[3, 1, 2, 99]), false)
            .await
            .unwrap();
        let got: Vec<u32> = first.iter().map(|(m, _)| m.uid.0).collect();
        assert_eq!(got, [1, 2, 3]);
        let k: Vec<&OrderFields> = first.iter().map(|(_, k)| &**k).collect();
        assert_eq!(
            (&*k[0].subject, k[0].reply, k[0].sent),
            ("lunch", false, Some(1_577_872_800))
        );
        assert_eq!(
            (&*k[1].subject, k[1].reply, k[1].sent),
            ("lunch", true, Some(1_577_872_800))
        );
        assert_eq!(
            (&*k[2].subject, k[2].reply, k[2].sent),
            ("cafe\u{301}", true, None)
        );
        assert_eq!((&*k[0].from, &*k[0].display_from), ("ann", "ann b"));
        assert_eq!(
            (&*k[0].to, &*k[0].display_to, &*k[0].cc),
            ("bob", "bob@example.org", "")
        );
        assert_eq!(k[2].id.as_deref(), Some("c@x"));
        assert!(k.iter().all(|k| k.references.is_none()));

        // Asked again: the same keys, not derived again.
        let again = store
            .order_fields(A, "INBOX", &uids(&[1, 2, 3]), false)
            .await
            .unwrap();
        assert!(first
            .iter()
            .zip(&again)
            .all(|((_, a), (_, b))| Arc::ptr_eq(a, b)));

        // THREAD: References read from the header blocks (else In-Reply-To's first id).
        let threaded = store
            .order_fields(A, "INBOX", &uids(&[1, 2, 3]), true)
            .await
            .unwrap();
        let r: Vec<Option<Vec<&str>>> = threaded.iter().map(|(_, k)| refs(k)).collect();
        assert_eq!(
            r,
            [Some(vec![]), Some(vec!["a@x"]), Some(vec!["a@x", "b@x"])]
        );
        assert_eq!(*threaded[2].1, {
            let mut k = (*k[2]).clone();
            k.references = threaded[2].1.references.clone();
            k
        });
        // ...and kept: an ordering without References gets them too, unchanged.
        let later = store
            .order_fields(A, "INBOX", &uids(&[1, 2, 3]), false)
            .await
            .unwrap();
        assert!(threaded
            .iter()
            .zip(&later)
            .all(|((_, a), (_, b))| Arc::ptr_eq(a, b)));

        // The index data is the message's current one; the keys stay.
        store
            .update_flags(
                A,
                "INBOX",
                &uids(&[2]),
                FlagMode::Add,
                Flags::system(SystemFlags::SEEN),
                None,
            )
            .await
            .unwrap();
        let flagged = store
            .order_fields(A, "INBOX", &uids(&[2]), true)
            .await
            .unwrap();
        assert!(flagged[0].0.flags.system.contains(SystemFlags::SEEN));
        assert!(Arc::ptr_eq(&flagged[0].1, &threaded[1].1));

        // Gone messages are left out; another mailbox has keys of its own.
        store.expunge(A, "INBOX", Some(&uids(&[2]))).await.unwrap();
        let left = store
            .order_fields(A, "INBOX", &uids(&[1, 2, 3]), true)
            .await
            .unwrap();
        let got: Vec<u32> = left.iter().map(|(m, _)| m.uid.0).collect();
        assert_eq!(got, [1, 3]);
        let other = store
            .order_fields(A, "Other", &uids(&[1]), false)
            .await
            .unwrap();
        assert_eq!(other.len(), 1);
        assert!(!Arc::ptr_eq(&other[0].1, &left[0].1));
        assert!(store
            .order_fields(A, "Nowhere", &uids(&[1]), false)
            .await
            .is_err());

        // RENAME keeps the mailbox and its keys.
        store.rename_mailbox(A, "Other", "Kept").await.unwrap();
        let renamed = store
            .order_fields(A, "Kept", &uids(&[1]), false)
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&renamed[0].1, &other[0].1));
        store.close().await.unwrap();

        // Derived data: a reopened store derives the same keys again.
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        let reopened = store
            .order_fields(A, "INBOX", &uids(&[1, 3]), true)
            .await
            .unwrap();
        assert_eq!(reopened, left);
    });
}
