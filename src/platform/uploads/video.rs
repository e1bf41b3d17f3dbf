//! Length and picture size of MP4 and QuickTime (MOV) files, read from the boxes that describe
//! the movie: `moov/mvhd` (timescale and duration; `moov/mvex/mehd` for fragmented files) and,
//! for the video track (`mdia/hdlr` = `vide`), `tkhd` (width, height and the display matrix,
//! whose 90° rotations swap the two). Only box headers are walked, never sample data, so the
//! cost does not depend on the video's length. Every read is bounds-checked: garbage yields
//! `None`, never a panic.

/// What an upload's movie header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoInfo {
    pub duration_ms: Option<u64>,
    /// As displayed (rotation applied).
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// The movie header of an MP4/MOV file; `None` when there is none (not such a file, or cut
/// short before its `moov` box).
pub fn probe(file: &[u8]) -> Option<VideoInfo> {
    let moov = child(file, b"moov")?;
    let mvhd = child(moov, b"mvhd")?;
    let (timescale, duration) = movie_header(mvhd)?;
    let duration = match duration {
        Some(d) if d > 0 => Some(d),
        // Fragmented files keep the length in `mvex/mehd`.
        _ => child(moov, b"mvex").and_then(|mvex| child(mvex, b"mehd")).and_then(fragment_length),
    };
    let duration_ms = duration.and_then(|d| to_ms(d, timescale));
    let tracks = Boxes::new(moov).filter(|(kind, _)| kind == b"trak").map(|(_, body)| body);
    let mut fallback = None;
    let mut size = None;
    for trak in tracks {
        let Some(dims) = child(trak, b"tkhd").and_then(track_size) else { continue };
        if handler(trak) == Some(*b"vide") {
            size = Some(dims);
            break;
        }
        fallback = fallback.or(Some(dims));
    }
    let (width, height) = match size.or(fallback) {
        Some((w, h)) => (Some(w), Some(h)),
        None => (None, None),
    };
    Some(VideoInfo { duration_ms, width, height })
}

/// Iterates the boxes of one level: (type, body).
struct Boxes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Boxes<'a> {
    fn new(data: &'a [u8]) -> Self {
        Boxes { data, pos: 0 }
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = ([u8; 4], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..)?;
        let size32 = u32_at(rest, 0)?;
        let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        let (header, size) = match size32 {
            // The box runs to the end of its parent.
            0 => (8, rest.len() as u64),
            // A 64-bit size follows the type.
            1 => (16, u64_at(rest, 8)?),
            n => (8, u64::from(n)),
        };
        let size = usize::try_from(size).ok()?;
        if size < header || size > rest.len() {
            // Malformed or cut short: nothing after it can be trusted.
            self.pos = self.data.len();
            return None;
        }
        self.pos += size;
        Some((kind, rest.get(header..size)?))
    }
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    Boxes::new(data).find(|(k, _)| k == kind).map(|(_, body)| body)
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = data.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// (timescale, duration) from `mvhd`; the duration is `None` when marked unknown (all ones).
fn movie_header(mvhd: &[u8]) -> Option<(u32, Option<u64>)> {
    match *mvhd.first()? {
        1 => {
            let duration = u64_at(mvhd, 24)?;
            Some((u32_at(mvhd, 20)?, (duration != u64::MAX).then_some(duration)))
        }
        0 => {
            let duration = u32_at(mvhd, 16)?;
            Some((u32_at(mvhd, 12)?, (duration != u32::MAX).then_some(u64::from(duration))))
        }
        _ => None,
    }
}

fn fragment_length(mehd: &[u8]) -> Option<u64> {
    match *mehd.first()? {
        1 => u64_at(mehd, 4),
        0 => u32_at(mehd, 4).map(u64::from),
        _ => None,
    }
    .filter(|d| *d > 0)
}

fn to_ms(duration: u64, timescale: u32) -> Option<u64> {
    if timescale == 0 {
        return None;
    }
    u64::try_from(u128::from(duration) * 1000 / u128::from(timescale)).ok()
}

/// The track's `mdia/hdlr` handler type (`vide`, `soun`, …).
fn handler(trak: &[u8]) -> Option<[u8; 4]> {
    let hdlr = child(child(trak, b"mdia")?, b"hdlr")?;
    hdlr.get(8..12)?.try_into().ok()
}

/// Displayed (width, height) from `tkhd`, `None` for tracks without a picture.
fn track_size(tkhd: &[u8]) -> Option<(u32, u32)> {
    let matrix = match *tkhd.first()? {
        1 => 52,
        0 => 40,
        _ => return None,
    };
    // 16.16 fixed point.
    let width = u32_at(tkhd, matrix + 36)? >> 16;
    let height = u32_at(tkhd, matrix + 40)? >> 16;
    if width == 0 || height == 0 {
        return None;
    }
    // The matrix is [a b u; c d v; x y w]: a 90° or 270° turn has a = d = 0.
    let a = u32_at(tkhd, matrix)?;
    let d = u32_at(tkhd, matrix + 16)?;
    Some(if a == 0 && d == 0 { (height, width) } else { (width, height) })
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn mvhd(version: u8, timescale: u32, duration: u64) -> Vec<u8> {
        let mut b = vec![version, 0, 0, 0];
        if version == 1 {
            b.extend_from_slice(&[0; 16]);
            b.extend_from_slice(&timescale.to_be_bytes());
            b.extend_from_slice(&duration.to_be_bytes());
        } else {
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&timescale.to_be_bytes());
            b.extend_from_slice(&(duration as u32).to_be_bytes());
        }
        b.extend_from_slice(&[0; 80]); // rate, volume, matrix, next track id …
        mp4_box(b"mvhd", &b)
    }

    fn tkhd(version: u8, width: u32, height: u32, rotated: bool) -> Vec<u8> {
        let mut b = vec![version, 0, 0, 7];
        b.extend_from_slice(&vec![0; if version == 1 { 48 } else { 36 }]);
        let one = 0x0001_0000u32.to_be_bytes();
        let minus_one = 0xFFFF_0000u32.to_be_bytes();
        let zero = [0u8; 4];
        let w = 0x4000_0000u32.to_be_bytes();
        let rows: [[u8; 4]; 9] = if rotated {
            [zero, one, zero, minus_one, zero, zero, zero, zero, w]
        } else {
            [one, zero, zero, zero, one, zero, zero, zero, w]
        };
        for r in rows {
            b.extend_from_slice(&r);
        }
        b.extend_from_slice(&(width << 16).to_be_bytes());
        b.extend_from_slice(&(height << 16).to_be_bytes());
        mp4_box(b"tkhd", &b)
    }

    fn trak(handler: &[u8; 4], tkhd: Vec<u8>) -> Vec<u8> {
        let mut h = vec![0; 8];
        h.extend_from_slice(handler);
        h.extend_from_slice(&[0; 13]);
        let mdia = mp4_box(b"mdia", &mp4_box(b"hdlr", &h));
        mp4_box(b"trak", &[tkhd, mdia].concat())
    }

    fn file(moov: &[Vec<u8>]) -> Vec<u8> {
        let ftyp = mp4_box(b"ftyp", b"isom\0\0\x02\0isomiso2mp41");
        // Sample data first, the movie header last (not "fast start"), as cameras write it.
        let mdat = mp4_box(b"mdat", &[0xAB; 64]);
        [ftyp, mdat, mp4_box(b"moov", &moov.concat())].concat()
    }

    #[test]
    fn reads_duration_and_the_video_tracks_size() {
        let f = file(&[
            mvhd(0, 600, 600 * 200),
            trak(b"soun", tkhd(0, 0, 0, false)),
            trak(b"vide", tkhd(0, 1920, 1080, false)),
        ]);
        let info = probe(&f).unwrap();
        assert_eq!(info.duration_ms, Some(200_000));
        assert_eq!((info.width, info.height), (Some(1920), Some(1080)));
    }

    #[test]
    fn version_1_headers_and_rotated_phone_videos() {
        let f = file(&[mvhd(1, 90_000, 90_000 * 3 / 2), trak(b"vide", tkhd(1, 1920, 1080, true))]);
        let info = probe(&f).unwrap();
        assert_eq!(info.duration_ms, Some(1_500));
        assert_eq!((info.width, info.height), (Some(1080), Some(1920)), "shown upright");
    }

    #[test]
    fn fragmented_files_take_the_length_from_mehd() {
        let mut mehd = vec![0, 0, 0, 0];
        mehd.extend_from_slice(&45_000u32.to_be_bytes());
        let mvex = mp4_box(b"mvex", &mp4_box(b"mehd", &mehd));
        let f = file(&[mvhd(0, 1_000, 0), mvex, trak(b"vide", tkhd(0, 720, 1280, false))]);
        assert_eq!(probe(&f).unwrap().duration_ms, Some(45_000));
    }

    #[test]
    fn what_is_not_known_stays_unknown() {
        let f = file(&[mvhd(0, 0, 100)]);
        assert_eq!(probe(&f), Some(VideoInfo { duration_ms: None, width: None, height: None }));
        assert_eq!(probe(b"\0\0\0\x18ftypmp42"), None, "no movie header");
        let cut = file(&[mvhd(0, 600, 6000)]);
        assert_eq!(probe(&cut[..cut.len() - 10]), None, "cut short");
    }

    #[test]
    fn largesize_and_to_the_end_boxes() {
        let moov_body = [mvhd(0, 10, 50), trak(b"vide", tkhd(0, 640, 480, false))].concat();
        let mut large = 1u32.to_be_bytes().to_vec();
        large.extend_from_slice(b"moov");
        large.extend_from_slice(&((moov_body.len() + 16) as u64).to_be_bytes());
        large.extend_from_slice(&moov_body);
        assert_eq!(probe(&large).unwrap().duration_ms, Some(5_000));
        let mut to_end = 0u32.to_be_bytes().to_vec();
        to_end.extend_from_slice(b"moov");
        to_end.extend_from_slice(&moov_body);
        assert_eq!(probe(&to_end).unwrap().width, Some(640));
    }

    /// Random bytes, and valid files with random damage, never panic and never loop.
    #[test]
    fn garbage_never_panics() {
        let mut rng = StdRng::seed_from_u64(0x5eed_f11e);
        for _ in 0..20_000 {
            let len = rng.random_range(0..300);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let _ = probe(&bytes);
        }
        let valid = file(&[
            mvhd(1, 600, 6_000),
            trak(b"soun", tkhd(0, 0, 0, false)),
            trak(b"vide", tkhd(1, 1280, 720, true)),
        ]);
        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            let cut = rng.random_range(0..=bytes.len());
            let _ = probe(&bytes[..cut]);
            let _ = probe(&bytes);
        }
    }
}
