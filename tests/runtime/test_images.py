"""runtime.images.prepare: bad uploads are refused with a reason; good ones are normalised."""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from runtime.images import (
    MODEL_INPUT_SIZE,
    ImageLimits,
    InvalidImage,
    PreparedImage,
    prepare,
    sniff_format,
)
from tests.conftest import REPO

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def decoded(prepared: PreparedImage) -> Image.Image:
    image = Image.open(io.BytesIO(prepared.jpeg))
    image.load()
    return image


def assert_close(pixel: object, expected: tuple[int, ...], tolerance: int = 12) -> None:
    assert isinstance(pixel, tuple), f"expected an RGB pixel, got {pixel!r}"
    assert all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True)), (
        f"{pixel} is not within {tolerance} of {expected}"
    )


def png_declaring(width: int, height: int) -> bytes:
    """A valid greyscale PNG of all-zero pixels, streamed so the test never holds the pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + one byte per pixel
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    return png_declaring(10_000, 10_000)


# --- refused uploads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", "empty", "empty"),
        (b"patient notes: lesion on left arm\n", "not_an_image", "not an image"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "not_an_image", "web page"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>',
            "not_an_image",
            "SVG drawing",
        ),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><rect/></svg>", "not_an_image", "SVG"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "not_an_image", "PDF document"),
    ],
    ids=["empty", "text", "html", "svg-xml", "svg", "pdf"],
)
def test_non_images_are_refused_with_what_they_are(data: bytes, code: str, words: str) -> None:
    with pytest.raises(InvalidImage, match=words) as refused:
        prepare(data)
    assert refused.value.code == code
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP"])
def test_formats_outside_the_allow_list_are_named_and_refused(fmt: str) -> None:
    data = encode(Image.new("RGB", (64, 64), RED), fmt)
    with pytest.raises(InvalidImage, match=f"{fmt} images are not accepted") as refused:
        prepare(data)
    assert refused.value.code == "unsupported_format"
    assert "JPEG, PNG or WebP" in str(refused.value)


def test_a_format_can_be_left_out_of_the_allow_list(sample_jpeg: bytes) -> None:
    png_only = ImageLimits(formats=frozenset({"PNG"}))
    refusal = r"JPEG images are not accepted\. Upload PNG\."
    with pytest.raises(InvalidImage, match=refusal) as refused:
        prepare(sample_jpeg, png_only)
    assert refused.value.code == "unsupported_format"


def test_the_format_is_read_from_content_not_a_name(sample_jpeg: bytes) -> None:
    # No name is ever given to prepare: a PNG is a PNG whatever it was called.
    png = encode(Image.open(io.BytesIO(sample_jpeg)), "PNG")
    assert prepare(png).format == "PNG"


def test_over_the_byte_limit_is_refused_before_decoding(sample_jpeg: bytes) -> None:
    limits = ImageLimits(max_bytes=100_000)
    with pytest.raises(InvalidImage) as refused:
        prepare(sample_jpeg, limits)
    assert str(refused.value) == "The file is 145.0 KB; the limit is 97.7 KB."
    assert refused.value.code == "too_large"


def test_the_default_byte_limit_is_10_mib_and_one_byte_over_reads_as_over() -> None:
    with pytest.raises(InvalidImage) as refused:
        prepare(b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024 - 2))  # 10 MiB + 1 byte
    assert str(refused.value) == (
        "The file is 10,485,761 bytes; the limit is 10,485,760 bytes (10.0 MB)."
    )
    assert refused.value.code == "too_large"
    with pytest.raises(InvalidImage, match=r"^The file is 12\.0 MB; the limit is 10\.0 MB\.$"):
        prepare(b"\xff\xd8\xff" + b"\x00" * (12 * 1024 * 1024 - 3))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_refused_as_damaged(sample_jpeg: bytes, fmt: str) -> None:
    whole = encode(Image.open(io.BytesIO(sample_jpeg)), fmt)
    with pytest.raises(InvalidImage, match=f"This {fmt} file is damaged") as refused:
        prepare(whole[: len(whole) // 2])
    assert refused.value.code == "corrupt"


def test_a_small_png_declaring_10k_by_10k_is_a_bomb(bomb_png: bytes) -> None:
    assert len(bomb_png) < 200_000  # tiny on disk, 100 MP when decoded
    with pytest.raises(InvalidImage, match="more than can be opened safely") as refused:
        prepare(bomb_png)
    assert refused.value.code == "too_many_pixels"


def test_pillows_bomb_guard_is_an_error_even_above_our_own_ceiling(bomb_png: bytes) -> None:
    # With our ceiling raised past Pillow's, Pillow's warning must still refuse the file, also
    # where warnings are ignored (as in production, unlike under this test suite's config).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InvalidImage, match="more than can be opened safely"):
            prepare(bomb_png, ImageLimits(max_pixels=10**9))


def test_an_8k_image_is_over_our_pixel_ceiling() -> None:
    data = encode(Image.new("1", (8000, 8000)), "PNG")
    with pytest.raises(InvalidImage, match=r"8000x8000 pixels \(64\.0 MP\); the limit is 50 MP"):
        prepare(data)


def test_tiny_images_are_refused() -> None:
    with pytest.raises(InvalidImage, match="only 16x16 pixels") as refused:
        prepare(encode(Image.new("RGB", (16, 16), RED), "PNG"))
    assert refused.value.code == "too_small"


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        ImageLimits(max_bytes=0)
    with pytest.raises(ValueError, match="subset"):
        ImageLimits(formats=frozenset({"GIF"}))


# --- accepted uploads ------------------------------------------------------------------------


def test_a_real_sample_becomes_a_224_rgb_jpeg_with_its_provenance(sample_jpeg: bytes) -> None:
    prepared = prepare(sample_jpeg)
    image = decoded(prepared)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (224, 224))
    assert prepared.sha256 == hashlib.sha256(sample_jpeg).hexdigest()
    assert (prepared.width, prepared.height, prepared.format) == (600, 450, "JPEG")
    assert prepared.bytes == len(sample_jpeg)


def test_the_model_input_is_high_quality_jpeg(sample_jpeg: bytes) -> None:
    # Quality is read back from the quantisation tables: quality 95 gives a luma DC step of 2.
    image = decoded(prepare(sample_jpeg))
    assert isinstance(image, Image.Image)
    tables = image.quantization  # type: ignore[attr-defined]
    assert tables[0][0] <= 3


def test_metadata_never_reaches_the_model_input(sample_jpeg: bytes) -> None:
    original = Image.open(io.BytesIO(sample_jpeg))
    exif = Image.Exif()
    exif[0x010E] = "patient: Jane Doe"  # ImageDescription
    exif[0x0112] = 1
    tagged = encode(original, "JPEG", exif=exif, icc_profile=b"not a real profile" * 10)
    image = decoded(prepare(tagged))
    assert "exif" not in image.info
    assert "icc_profile" not in image.info
    assert dict(image.getexif()) == {}


def test_exif_orientation_is_applied_before_resizing() -> None:
    # Stored landscape, red left and blue right; orientation 6 displays it turned a quarter
    # clockwise: portrait, red on top.
    stored = Image.new("RGB", (300, 200), BLUE)
    stored.paste(RED, (0, 0, 150, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    prepared = prepare(encode(stored, "JPEG", exif=exif, quality=95))
    assert (prepared.width, prepared.height) == (200, 300)
    image = decoded(prepared)
    assert_close(image.getpixel((112, 20)), RED)
    assert_close(image.getpixel((112, 204)), BLUE)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
        lambda: Image.new("LA", (64, 64), (0, 0)),
        lambda: _palette_with_transparent_black(),
    ],
    ids=["RGBA", "LA", "P-transparency"],
)
def test_transparency_is_composited_on_white_not_black(make: Callable[[], Image.Image]) -> None:
    image = decoded(prepare(encode(make(), "PNG")))
    assert_close(image.getpixel((112, 112)), (255, 255, 255))


def _palette_with_transparent_black() -> Image.Image:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    return image


def test_half_transparent_red_on_white_is_pink() -> None:
    image = decoded(prepare(encode(Image.new("RGBA", (64, 64), (255, 0, 0, 128)), "PNG")))
    assert_close(image.getpixel((112, 112)), (255, 127, 127))


def test_16_bit_grey_is_scaled_not_clipped_to_white() -> None:
    grey16 = Image.new("I;16", (64, 64), 32768)  # mid grey in 16 bits
    data = encode(grey16, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    image = decoded(prepare(data))
    assert_close(image.getpixel((112, 112)), (128, 128, 128), tolerance=3)


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert_close(decoded(prepare(data)).getpixel((112, 112)), RED, tolerance=20)


@pytest.mark.parametrize("mode", ["L", "1", "P"])
def test_grey_bilevel_and_palette_images_become_rgb(mode: str) -> None:
    image = decoded(
        prepare(encode(Image.new("RGB", (64, 64), (255, 255, 255)).convert(mode), "PNG"))
    )
    assert image.mode == "RGB"
    assert_close(image.getpixel((112, 112)), (255, 255, 255))


def test_animated_webp_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (64, 64), RED), Image.new("RGB", (64, 64), BLUE)]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = out.getvalue()
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    prepared = prepare(data)
    assert prepared.format == "WEBP"
    assert_close(decoded(prepared).getpixel((112, 112)), RED)


def test_a_large_jpeg_reports_its_full_size(sample_jpeg: bytes) -> None:
    # Large JPEGs are decoded at reduced scale; the record must still tell the real size.
    big = Image.open(io.BytesIO(sample_jpeg)).resize((2400, 1800))
    prepared = prepare(encode(big, "JPEG", quality=90))
    assert (prepared.width, prepared.height) == (2400, 1800)
    assert decoded(prepared).size == (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE)


def test_sniff_format_names_formats_from_their_first_bytes(sample_jpeg: bytes) -> None:
    assert sniff_format(sample_jpeg) == "JPEG"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff_format(b"GIF89a...") == "GIF"
    assert sniff_format(b"hello") is None


# --- arbitrary input -------------------------------------------------------------------------


def _outcome(data: bytes) -> str:
    """Run prepare; only success or InvalidImage may come out."""
    try:
        prepared = prepare(data)
    except InvalidImage as refused:
        message, code = str(refused), refused.code
    else:
        message, code = "", "ok"
    if code != "ok":
        assert message, "a refusal must say why"
        return code
    assert decoded(prepared).size == (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE)
    return "ok"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_refused_or_prepared(data: bytes) -> None:
    _outcome(data)


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if action == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[max(position, 1) :]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[position : position + draw(st.integers(1, 64))]
        if not data:
            break
    return bytes(data)


def _small_originals() -> list[bytes]:
    from tests.conftest import SAMPLES

    photo = Image.open(SAMPLES / "mel" / "ISIC_0030119.jpg").resize((96, 72))
    return [
        encode(photo, "JPEG", quality=90),
        encode(photo, "PNG"),
        encode(photo, "WEBP", quality=90),
        encode(photo.convert("RGBA"), "PNG"),
        encode(photo.convert("P"), "PNG"),
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_small_originals()))
def test_mutated_real_images_are_refused_or_prepared(data: bytes) -> None:
    _outcome(data)


# --- attacks (issue 10): damaged JPEGs, decoder bombs, odd shapes ------------------------------


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of every segment of a JPEG, a scan's entropy data included in its
    segment; the end-of-image marker last."""
    segments, position = [], 2
    while True:
        marker = data[position + 1]
        if marker == 0xD9:
            segments.append((marker, position, position + 2))
            return segments
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        end = position + 2 + length
        if marker == 0xDA:  # the entropy data runs to the next marker that is not stuffing/RST
            while not (data[end] == 0xFF and data[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
        segments.append((marker, position, end))
        position = end


def scan_data(data: bytes) -> tuple[int, int]:
    """Where the entropy-coded data of a baseline JPEG's one scan starts and ends."""
    (_, start, end) = next(s for s in jpeg_segments(data) if s[0] == 0xDA)
    return start + 2 + int.from_bytes(data[start + 2 : start + 4], "big"), end


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    from tests.conftest import SAMPLES

    return encode(Image.open(SAMPLES / "mel" / "ISIC_0030119.jpg"), "JPEG", quality=90)


def _headers_and_100_bytes(whole: bytes) -> bytes:
    start, _ = scan_data(whole)
    return whole[: start + 100] + b"\xff\xd9"


def _cut_in_half(whole: bytes) -> bytes:
    return whole[: len(whole) // 2] + b"\xff\xd9"


def _partly_randomised(whole: bytes) -> bytes:
    start, end = scan_data(whole)
    middle = (start + end) // 2
    noise = random.Random(10).randbytes(2000).replace(b"\xff", b"\xfe")  # no fake markers
    return whole[:middle] + noise + whole[middle + len(noise) :]


@pytest.mark.parametrize(
    "damage",
    [_headers_and_100_bytes, _cut_in_half, _partly_randomised],
    ids=["headers-and-100-bytes-of-scan", "cut-in-half-with-end-marker", "randomised-scan"],
)
def test_damaged_jpegs_with_an_end_marker_are_refused_not_filled_with_grey(
    photo_jpeg: bytes, damage: Callable[[bytes], bytes]
) -> None:
    data = damage(photo_jpeg)
    assert data.endswith(b"\xff\xd9")
    image = Image.open(io.BytesIO(data))
    image.load()  # Pillow decodes each of them without complaint: the check must be ours
    with pytest.raises(InvalidImage, match="This JPEG file is damaged") as refused:
        prepare(data)
    assert refused.value.code == "corrupt"
    assert "Export or copy it again" in str(refused.value)


def test_an_undamaged_jpeg_of_the_same_photo_is_accepted(photo_jpeg: bytes) -> None:
    assert prepare(photo_jpeg).format == "JPEG"


def scan_bomb(repeats: int = 1000) -> bytes:
    """A progressive 7000x7000 JPEG whose smallest AC scan is repeated ``repeats`` times."""
    data = encode(Image.new("L", (7000, 7000), 128), "JPEG", progressive=True, quality=50)
    segments = jpeg_segments(data)
    # An SOS segment: marker, length, component count n, n x 2 bytes, then Ss (0: a DC scan).
    ac_scans = [(s, e) for m, s, e in segments if m == 0xDA and data[s + 5 + 2 * data[s + 4]]]
    start, end = min(ac_scans, key=lambda span: span[1] - span[0])
    eoi = segments[-1][1]
    return data[:eoi] + data[start:end] * repeats + data[eoi:]


def streamed_png(
    width: int, height: int, color_type: int, bit_depth: int, chunks: bytes = b""
) -> bytes:
    """A valid PNG of all-zero rows, compressed row by row so the test never holds the pixels."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row = b"\x00" * (1 + width * channels * bit_depth // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + chunks
        + _chunk(b"IDAT", idat)
        + (_chunk(b"IEND", b""))
    )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


SIDE_UNDER_50_MP = 7071  # 49.998 MP: just under the pixel ceiling


def lossless_rgba_webp() -> bytes:
    canvas = Image.new("RGBA", (SIDE_UNDER_50_MP, SIDE_UNDER_50_MP), (200, 120, 90, 128))
    return encode(canvas, "WEBP", lossless=True, quality=0, method=0)


BOUNDS_SECONDS = 2.0
BOUNDS_MB = 500

MEASURE = """
import json, sys, time
from runtime.images import InvalidImage, prepare
import simplejpeg  # the strict decoder's import is not the image's cost
data = open(sys.argv[1], "rb").read()
started = time.perf_counter()
try:
    prepare(data)
    outcome = "prepared"
except InvalidImage as refused:
    outcome = refused.code + ": " + str(refused)
seconds = time.perf_counter() - started
peak_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "seconds": seconds, "peak_mb": peak_kb / 1024}))
"""


def prepare_in_a_fresh_process(data: bytes, tmp_path: Path) -> dict[str, Any]:
    """Run prepare once in a new interpreter: its outcome, seconds and the process's peak RSS
    (VmHWM: everything the process ever held, interpreter and libraries included)."""
    upload = tmp_path / "upload"
    upload.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(upload)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("make", "refusal"),
    [
        (scan_bomb, "too_many_scans: This JPEG repeats its image data in more than 100 scans"),
        (lossless_rgba_webp, "too_costly: This 7071x7071 WebP would need about"),
        (
            lambda: streamed_png(SIDE_UNDER_50_MP, SIDE_UNDER_50_MP, 6, 8),
            "too_costly: This 7071x7071 PNG would need about",
        ),
        (
            lambda: streamed_png(
                SIDE_UNDER_50_MP,
                SIDE_UNDER_50_MP,
                3,
                8,
                _chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff") + _chunk(b"tRNS", b"\x00"),
            ),
            "too_costly: This 7071x7071 PNG would need about",
        ),
        (
            lambda: streamed_png(SIDE_UNDER_50_MP, SIDE_UNDER_50_MP, 0, 16),
            "too_costly: This 7071x7071 PNG would need about",
        ),
    ],
    ids=["scan-bomb", "lossless-rgba-webp", "rgba-png", "palette-transparency-png", "16-bit-png"],
)
def test_decoder_bombs_are_refused_before_decoding_within_time_and_memory(
    make: Callable[[], bytes], refusal: str, tmp_path: Path
) -> None:
    data = make()
    assert len(data) < 300_000  # a few KB on disk, gigabytes of work
    measured = prepare_in_a_fresh_process(data, tmp_path)
    assert measured["outcome"].startswith(refusal), measured
    assert "try again" in measured["outcome"]
    # The bounds the issue sets, generous here: a refusal takes milliseconds and megabytes.
    assert measured["seconds"] < BOUNDS_SECONDS, measured
    assert measured["peak_mb"] < BOUNDS_MB, measured


def test_a_large_transparent_png_within_the_budget_is_prepared_within_bounds(
    tmp_path: Path,
) -> None:
    # 12 MP with an alpha band, like a phone photo exported with transparency: not refused.
    measured = prepare_in_a_fresh_process(streamed_png(4000, 3000, 6, 8), tmp_path)
    assert measured["outcome"] == "prepared", measured
    assert measured["seconds"] < BOUNDS_SECONDS, measured
    assert measured["peak_mb"] < BOUNDS_MB, measured


def test_the_memory_refusal_says_how_to_fix_the_image() -> None:
    with pytest.raises(InvalidImage) as refused:
        prepare(streamed_png(SIDE_UNDER_50_MP, SIDE_UNDER_50_MP, 6, 8))
    message = str(refused.value)
    assert message.startswith("This 7071x7071 PNG would need about 381 MB of memory to decode")
    assert "Save it as a JPEG (no transparency, 8 bits), or downscale it to at most" in message


def test_a_very_long_image_is_refused_not_squashed() -> None:
    data = streamed_png(32, 100_000, 0, 8)
    with pytest.raises(InvalidImage) as refused:
        prepare(data)
    assert refused.value.code == "bad_aspect_ratio"
    assert str(refused.value) == (
        "The image is 32x100000 pixels, 3,125.0 times as long as it is wide; at most 4:1 is "
        "accepted, because the model squashes every image to a square. Crop it around the "
        "lesion and try again."
    )
    assert prepare(encode(Image.new("RGB", (400, 100), RED), "PNG")).width == 400  # 4:1 is fine


def test_an_mpo_is_recorded_as_the_jpeg_it_is(sample_jpeg: bytes) -> None:
    photo = Image.open(io.BytesIO(sample_jpeg))
    out = io.BytesIO()
    photo.save(
        out, "MPO", save_all=True, append_images=[photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    )
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    prepared = prepare(out.getvalue())
    assert prepared.format == "JPEG"
    assert (prepared.width, prepared.height) == (600, 450)
