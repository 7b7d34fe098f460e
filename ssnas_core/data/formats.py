"""The upload formats, described once: for ``data --help``, the OpenAPI description of
``POST /datasets`` and ``api/README.md`` (a test keeps the README's copy equal to ``GUIDE``)."""

from __future__ import annotations

from .images import DEFAULT_MAX_PIXELS
from .safety import DEFAULT_LIMITS

# name -> one line (``python -m ssnas_core data --help``)
FORMATS = {
    "generic": "zip/folder: manifest.csv or manifest.jsonl + the files it names (image, text, "
               "audio, vector fields), optional schema.json",
    "mmimdb_raw": "zip/folder: dataset/<id>.json {plot, genres} + dataset/<id>.jpeg posters, "
                  "optional genres.json, split.json",
    "mmimdb_h5": "MM-IMDB's multimodal_imdb.hdf5 (features, genres + target_names, images, "
                 "vgg_features, imdb_ids)",
    "features": "zip/folder: manifest.json + features.h5 (nodes/<name>, labels, split, ids "
                "optional): your own features",
    "avmnist": "zip/folder: mnist.npz + fsdd.npz (the AV-MNIST pack)",
}

_L = DEFAULT_LIMITS

GUIDE = f"""\
Send one file (multipart part `file`, or a raw body with `?filename=`): a zip archive or an
HDF5 file, recognised by its content, not its name. Locally, `python -m ssnas_core data inspect
FILE` names the format, or what is missing when an archive is close to one.

Every sample is decoded at upload. A sample that cannot be used (an image Pillow cannot read, a
missing plot, a NaN vector, a label missing...) is left out and listed with its problem in the
dataset's `summary.report.rejected`; jobs train on the rest. Problems of the whole upload are
refused with the validator's message: 415 for an unknown format; 422 for a broken archive, no
usable sample, feature rows holding NaN or infinities, or label lists joined with the wrong
separator; 413 above the size limits.

**Rules shared by all formats**
- Images: whatever Pillow reads, told by the content, not the extension: JPEG, PNG, WebP, GIF
  (the first frame), BMP, TIFF. Refused per sample, in plain words: SVG, HTML pages, PDF, HEIC,
  text, truncated files, more than {DEFAULT_MAX_PIXELS:,} pixels.
- Audio: PCM WAV, 8/16/24/32-bit, channels averaged to mono.
- Split: `train`, `dev`, `test` (`val`, `valid`, `validation` mean dev). Without one, a seeded
  60/10/30 split is drawn.
- A zip may hold everything under one top-level folder.
- Sizes: one upload at most `SSNAS_MAX_UPLOAD_BYTES` (20 GiB by default) and within the owner's
  storage quota `SSNAS_MAX_STORAGE_BYTES`; a zip at most {_L.max_members:,} files,
  {_L.max_total_bytes >> 30} GiB uncompressed, {_L.max_member_bytes >> 20} MiB a file, a
  compression ratio of at most {_L.max_ratio:.0f}.

**1. Generic archive (`generic`)**: any fields, one row per sample. Files: `manifest.csv` or
`manifest.jsonl`, the files it names (paths relative to it), optional `schema.json`.

| column (CSV) or key (JSONL) | meaning |
|---|---|
| `id` | optional sample id (default: the row number) |
| `labels` | multi-label: names separated by `'|'` in CSV (`Crime|Thriller`), a JSON list in JSONL |
| `label` | single-label (multi-class): one name (exactly one of `label`, `labels`) |
| `split` | optional: `train`, `dev` or `test` |
| `name:kind` | a field of kind `image`, `text`, `audio` or `vector`, e.g. `poster:image` |
| `name` | guessed: an image or `.wav` file (or any file of the archive, by content), a number list, else text |

Label names that look like lists joined with another separator (`"Comedy, Romance"` next to
`"Comedy"`) refuse the upload, naming the separator to use. `schema.json`:
`{{"fields": {{"poster": "image", "plot": "text"}}, "label_names": ["Crime", "Romance", "Thriller"]}}`
sets kinds and the label order (and declares compound names on purpose). Example, `movies.zip`:

```
manifest.csv
img/1.jpg
img/2.png
```
```
id,poster:image,plot:text,labels,split
m1,img/1.jpg,A heist in Rome.,Crime|Thriller,train
m2,img/2.png,Two strangers fall in love.,Romance,test
```
or `manifest.jsonl`:
`{{"id": "m1", "poster": "img/1.jpg", "plot": "A heist in Rome.", "labels": ["Crime", "Thriller"], "split": "train"}}`

**2. MM-IMDB raw archive (`mmimdb_raw`)**: posters and plots. Files:
- `dataset/<id>.json`: `{{"plot": "..." or ["...", ...], "genres": ["Crime", "Thriller"]}}` (the
  longest plot is used; other keys are ignored);
- `dataset/<id>.jpeg`: the poster; when it is absent, `<id>.jpg`, `.png`, `.webp`, `.gif`, ...;
- optional `genres.json`: `["Drama", "Comedy", ...]`, the label order (else by frequency);
  genres not in it reject their movie;
- optional `split.json`: `{{"train": [ids], "dev": [ids], "test": [ids]}}`; a movie not listed is
  rejected.

Example: `dataset/0001.json` = `{{"plot": ["A heist in Rome."], "genres": ["Crime",
"Thriller"]}}` and `dataset/0001.jpeg`.

**3. MM-IMDB HDF5 (`mmimdb_h5`)**: `multimodal_imdb.hdf5`, uploaded as is. Datasets:
`features` (N, 300) mean word2vec of the plots, `genres` (N, K) 0/1 with the attribute
`target_names`, optional `images` (N, 3, H, W) caffe-style BGR minus the ImageNet mean,
`vgg_features` (N, 4096), `imdb_ids` (N,). Split: the file's Fuel `split` attribute, MM-IMDB's
official rows for 25,959 rows, else the same proportions in row order.

**4. Feature format (`features`)**: your own features, a zip of a folder with `manifest.json` and
`features.h5` (written by `ssnas_core.data.features.write_features` or `python -m ssnas_core data
convert`):
- `features.h5`: `nodes/<name>` (N, d) or (N, C, H, W) float16/float32 per input node, `labels`
  (N, K) uint8 0/1 (multilabel) or (N,) int64 (multiclass), `split` (N,) uint8 (0 train, 1 dev,
  2 test), optional `ids` (N,) strings (default: the row numbers). Rows with NaN or infinite
  values refuse the upload, naming the samples.
- `manifest.json`: `{{"nodes": [{{"name": "img", "modality": "image", "shape": [512]}}, {{"name":
  "txt", "modality": "text", "shape": [384]}}], "label_names": ["Crime", "Romance"], "task":
  "multilabel", "num_samples": 1000}}`

**5. AV-MNIST (`avmnist`)**: a zip of a folder with `mnist.npz` (`x_train`, `y_train`, `x_test`,
`y_test`) and `fsdd.npz` (spoken digits: `samples`, `offsets`, `label`, `utterance`, `is_test`,
`filename`, `sample_rate`); digits paired with a spoken digit of the same class.
"""


def format_lines() -> str:
    """One line per format (the CLI's help)."""
    return "\n".join(f"  {name:<11} {text}" for name, text in FORMATS.items())
