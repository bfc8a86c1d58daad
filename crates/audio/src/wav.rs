//! Small 16-bit PCM WAV files with RIFF INFO tags: test fixtures and demo tracks made here, so
//! nothing has to be downloaded.

/// Tags written to the file's `LIST/INFO` chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
}

/// A sine tone of `seconds` at `hz`, at half amplitude.
pub fn sine(rate: u32, channels: u16, seconds: f64, hz: f64, tags: &Tags) -> Vec<u8> {
    let frames = (f64::from(rate) * seconds).round() as usize;
    let samples: Vec<i16> = (0..frames)
        .flat_map(|i| {
            let v = (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin() * 0.5 * f64::from(i16::MAX);
            std::iter::repeat_n(v as i16, usize::from(channels))
        })
        .collect();
    pcm16(rate, channels, &samples, tags)
}

/// A WAV file around interleaved 16-bit samples.
pub fn pcm16(rate: u32, channels: u16, samples: &[i16], tags: &Tags) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = header(rate, channels, data_len, tags);
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Everything before the samples: RIFF, `fmt `, the INFO tags, and the `data` chunk header for
/// `data_len` bytes. A streaming writer writes it with 0 and patches the two sizes at the end
/// ([`RIFF_SIZE_AT`], and the last 4 bytes of the header).
pub fn header(rate: u32, channels: u16, data_len: u32, tags: &Tags) -> Vec<u8> {
    let info = info_chunk(tags);
    let mut out = Vec::with_capacity(44 + info.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(4 + 24 + 8 + data_len.saturating_add(u32::try_from(info.len()).unwrap_or(0))).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(&info);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out
}

/// Where the RIFF chunk's size sits in a header.
pub const RIFF_SIZE_AT: u64 = 4;

fn info_chunk(tags: &Tags) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, value) in [(b"INAM", &tags.title), (b"IART", &tags.artist), (b"IPRD", &tags.album)] {
        let Some(value) = value else { continue };
        let mut text = value.as_bytes().to_vec();
        text.push(0);
        body.extend_from_slice(id);
        body.extend_from_slice(&u32::try_from(text.len()).unwrap_or(0).to_le_bytes());
        if text.len() % 2 == 1 {
            text.push(0); // chunks are word-aligned
        }
        body.extend_from_slice(&text);
    }
    if body.is_empty() {
        return body;
    }
    let mut chunk = b"LIST".to_vec();
    chunk.extend_from_slice(&(4 + u32::try_from(body.len()).unwrap_or(0)).to_le_bytes());
    chunk.extend_from_slice(b"INFO");
    chunk.extend_from_slice(&body);
    chunk
}
