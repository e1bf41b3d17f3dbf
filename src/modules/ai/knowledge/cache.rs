//! Vectors of knowledge bases kept in memory for in-process ranking (servers without
//! pgvector). Each entry is tagged with its knowledge base's `revision`, which every change to
//! its chunks bumps, so any instance notices a change at its next search. Vectors are stored
//! normalised, so ranking is one dot product per chunk.

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::state::AppState;

pub struct KbVectors {
    pub revision: i64,
    pub ids: Vec<Uuid>,
    pub dims: usize,
    /// `ids.len() × dims` unit vectors, row after row.
    pub data: Vec<f32>,
}

impl KbVectors {
    fn floats(&self) -> usize {
        self.data.len()
    }

    /// The `n` chunks most similar to `query` (cosine), best first.
    pub fn rank(&self, query: &[f32], n: usize) -> Vec<(Uuid, f32)> {
        if query.len() != self.dims || self.dims == 0 {
            return Vec::new();
        }
        let q = unit(query);
        let mut scored: Vec<(Uuid, f32)> = self
            .data
            .chunks_exact(self.dims)
            .zip(&self.ids)
            .map(|(v, id)| (*id, v.iter().zip(&q).map(|(a, b)| a * b).sum()))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(n);
        scored
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 { v.to_vec() } else { v.iter().map(|x| x / norm).collect() }
}

/// Bounded by `ai.knowledge.vector_cache_mb`; the least recently loaded entries go first.
#[derive(Default)]
pub struct VectorCache {
    entries: Mutex<Vec<(Uuid, Arc<KbVectors>)>>,
}

impl VectorCache {
    fn get(&self, kb: Uuid, revision: i64) -> Option<Arc<KbVectors>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().find(|(id, v)| *id == kb && v.revision == revision).map(|(_, v)| v.clone())
    }

    fn put(&self, kb: Uuid, vectors: Arc<KbVectors>, max_floats: usize) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(id, _)| *id != kb);
        if vectors.floats() > max_floats {
            return;
        }
        entries.push((kb, vectors));
        while entries.iter().map(|(_, v)| v.floats()).sum::<usize>() > max_floats {
            entries.remove(0);
        }
    }

    /// The vectors of `kb` at `revision`, loaded from the database when not cached.
    pub async fn load(
        &self,
        state: &AppState,
        kb: Uuid,
        revision: i64,
    ) -> Result<Arc<KbVectors>, sqlx::Error> {
        if let Some(hit) = self.get(kb, revision) {
            return Ok(hit);
        }
        let rows: Vec<(Uuid, Vec<f32>)> = sqlx::query_as(
            "select id, embedding from smartflow_ai.chunks where knowledge_base_id = $1 and embedding is not null",
        )
        .bind(kb)
        .fetch_all(&state.db)
        .await?;
        let dims = rows.first().map_or(0, |(_, v)| v.len());
        let mut ids = Vec::with_capacity(rows.len());
        let mut data = Vec::with_capacity(rows.len() * dims);
        for (id, v) in rows.into_iter().filter(|(_, v)| v.len() == dims) {
            ids.push(id);
            data.extend(unit(&v));
        }
        let vectors = Arc::new(KbVectors { revision, ids, dims, data });
        let max_floats = state.settings.ai.knowledge.vector_cache_mb * 1024 * 1024 / 4;
        self.put(kb, vectors.clone(), max_floats);
        Ok(vectors)
    }
}

/// Marks a knowledge base's chunks as changed.
pub async fn bump(conn: impl sqlx::PgExecutor<'_>, kb: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update smartflow_ai.knowledge_bases set revision = revision + 1, updated_at = now() where id = $1")
        .bind(kb)
        .execute(conn)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(revision: i64, n: usize) -> Arc<KbVectors> {
        Arc::new(KbVectors { revision, ids: vec![Uuid::nil(); n], dims: 1, data: vec![1.0; n] })
    }

    #[test]
    fn ranks_by_cosine_and_evicts_oldest_over_budget() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let v = KbVectors {
            revision: 1,
            ids: vec![a, b],
            dims: 2,
            data: [unit(&[1.0, 0.0]), unit(&[1.0, 1.0])].concat(),
        };
        let ranked = v.rank(&[3.0, 2.9], 2);
        assert_eq!(ranked[0].0, b);
        assert!(v.rank(&[1.0], 2).is_empty(), "other dimensions never compare");

        let cache = VectorCache::default();
        cache.put(a, entry(1, 6), 10);
        cache.put(b, entry(1, 6), 10);
        assert!(cache.get(a, 1).is_none(), "evicted to stay within the budget");
        assert!(cache.get(b, 1).is_some());
        assert!(cache.get(b, 2).is_none(), "a new revision is a miss");
    }
}
