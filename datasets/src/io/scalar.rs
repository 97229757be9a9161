//! Voxel sample types of the binary volume formats (NRRD, MetaImage, GIPL, NIfTI-2): decoding
//! raw bytes of either byte order into `f64`, and the voxels our writers store (float32 images,
//! uint8/int16 label maps, as the NIfTI writer does).

/// A scalar sample type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

macro_rules! decode_as {
    ($bytes:expr, $ty:ty, $big:expr) => {{
        const N: usize = std::mem::size_of::<$ty>();
        let mut out = Vec::with_capacity($bytes.len() / N);
        for c in $bytes.chunks_exact(N) {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            out.push(if $big {
                <$ty>::from_be_bytes(a)
            } else {
                <$ty>::from_le_bytes(a)
            } as f64);
        }
        out
    }};
}

impl Scalar {
    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            Scalar::U8 | Scalar::I8 => 1,
            Scalar::U16 | Scalar::I16 => 2,
            Scalar::U32 | Scalar::I32 | Scalar::F32 => 4,
            Scalar::U64 | Scalar::I64 | Scalar::F64 => 8,
        }
    }

    /// Decodes whole samples of `bytes` (its length a multiple of [`Scalar::size`]).
    pub fn decode(self, bytes: &[u8], big_endian: bool) -> Vec<f64> {
        match self {
            Scalar::U8 => bytes.iter().map(|&v| v as f64).collect(),
            Scalar::I8 => bytes.iter().map(|&v| v as i8 as f64).collect(),
            Scalar::U16 => decode_as!(bytes, u16, big_endian),
            Scalar::I16 => decode_as!(bytes, i16, big_endian),
            Scalar::U32 => decode_as!(bytes, u32, big_endian),
            Scalar::I32 => decode_as!(bytes, i32, big_endian),
            Scalar::U64 => decode_as!(bytes, u64, big_endian),
            Scalar::I64 => decode_as!(bytes, i64, big_endian),
            Scalar::F32 => decode_as!(bytes, f32, big_endian),
            Scalar::F64 => decode_as!(bytes, f64, big_endian),
        }
    }
}

/// Voxels ready to write, in one of the datatypes we write.
#[derive(Clone, Copy)]
pub enum Voxels<'a> {
    U8(&'a [u8]),
    I16(&'a [i16]),
    F32(&'a [f32]),
}

impl Voxels<'_> {
    /// The sample type.
    pub fn scalar(&self) -> Scalar {
        match self {
            Voxels::U8(_) => Scalar::U8,
            Voxels::I16(_) => Scalar::I16,
            Voxels::F32(_) => Scalar::F32,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Voxels::U8(d) => d.len(),
            Voxels::I16(d) => d.len(),
            Voxels::F32(d) => d.len(),
        }
    }

    /// The samples as bytes in the given byte order.
    pub fn to_bytes(self, big_endian: bool) -> Vec<u8> {
        match self {
            Voxels::U8(d) => d.to_vec(),
            Voxels::I16(d) => d
                .iter()
                .flat_map(|v| {
                    if big_endian {
                        v.to_be_bytes()
                    } else {
                        v.to_le_bytes()
                    }
                })
                .collect(),
            Voxels::F32(d) => d
                .iter()
                .flat_map(|v| {
                    if big_endian {
                        v.to_be_bytes()
                    } else {
                        v.to_le_bytes()
                    }
                })
                .collect(),
        }
    }
}
