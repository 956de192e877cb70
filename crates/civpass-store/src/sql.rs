//! Helpers every port's SQL shares.

/// A query with its parameters bound, over either dialect.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Wraps an async block over the writer's connection as a boxed operation.
macro_rules! op {
    (|$conn:ident| $body:expr) => {
        Box::new(move |$conn: &mut AnyConnection| Box::pin(async move { $body }))
    };
}

pub(crate) use op;
