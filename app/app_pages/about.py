"""About: what the model is, what it learnt from, what it cannot do, and the licences."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from runtime.classifiers import DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION
from runtime.labels import CLASSES, MALIGNANT, NAMES

EXPLAINED = {
    "akiec": "Rough, scaly sun-damage patches that can progress to squamous cell carcinoma; "
    "includes Bowen's disease (carcinoma in situ).",
    "bcc": "The most common skin cancer. Grows slowly and rarely spreads, but destroys "
    "tissue locally if left untreated.",
    "bkl": "Seborrhoeic keratoses, solar lentigines and lichen-planus-like keratoses: common, "
    "harmless growths that can look worrying.",
    "df": "A firm, harmless nodule of fibrous tissue, often on the legs.",
    "mel": "A cancer of the pigment cells; the most dangerous common skin cancer. Caught early, "
    "it is usually curable.",
    "nv": "Ordinary moles. By far the most common class in the training data.",
    "vasc": "Cherry angiomas, angiokeratomas and other blood-vessel lesions; almost always "
    "harmless.",
}

st.header("About dermascan")
st.markdown(
    f"""
dermascan is **triage support**: it estimates how much a dermatoscopic image resembles each of
seven lesion classes. It does not diagnose, it has not been clinically validated, and it must
not delay a visit to a clinician.

### The model
A Vision Transformer (ViT-Base/16, 86 million parameters) fine-tuned by a community author
from Google's `vit-base-patch16-224-in21k`:
[`{DEFAULT_MODEL_ID}`](https://huggingface.co/{DEFAULT_MODEL_ID}), pinned to revision
`{DEFAULT_MODEL_REVISION[:12]}`. Every image is squashed to 224x224 pixels before the model
sees it. Locally it runs on this computer's CPU; on AWS the same model runs on a SageMaker
endpoint, so both give the same scores.

### What it learnt from
About 10,000 dermatoscopic images of the HAM10000 dataset (Vienna and Queensland, mostly
light-skinned patients). Two thirds of them are moles (nv); dermatofibroma and vascular
lesions have about a hundred images each.

### Honest limits
- **Dermatoscopic images only.** Phone snapshots, clinical photos and other skin conditions
  are outside what it learnt; it will still answer, often confidently, and wrongly.
- **A skewed dataset.** It leans towards "mole", has seen few images of dark skin, and
  nothing of lesions on nails, mucosa or the scalp.
- **Accuracy.** The model card claims 96.95 % validation accuracy, but that validation split
  shares lesions with the training split (the same lesion photographed more than once), so
  it overstates. An independent evaluation measured about **83 %** on the test split, and a
  third party reported about **73 % sensitivity for melanoma**: roughly one melanoma in four
  is missed.
- **Scores are not probabilities of disease.** They are the model's softmax outputs, which
  tend to be overconfident. dermascan marks low or close scores as uncertain, but a confident
  answer can still be wrong.
"""
)

st.subheader("The seven classes")
st.dataframe(
    pd.DataFrame(
        [
            {
                "Code": code,
                "Class": NAMES[code],
                "Malignant": "yes" if code in MALIGNANT else "no",
                "What it is": EXPLAINED[code],
            }
            for code in CLASSES
        ]
    ),
    hide_index=True,
)

st.subheader("Licences and attribution")
st.markdown(
    """
- dermascan's code: MIT licence.
- The model: Apache-2.0, per its model card.
- The sample images and the model's training data: the HAM10000 dataset, licensed
  [CC BY-NC 4.0](https://creativecommons.org/licenses/by-nc/4.0/) (non-commercial use):
  Tschandl, P., Rosendahl, C. & Kittler, H. *The HAM10000 dataset, a large collection of
  multi-source dermatoscopic images of common pigmented skin lesions.* Sci. Data 5, 180161
  (2018). [doi:10.1038/sdata.2018.161](https://doi.org/10.1038/sdata.2018.161)
"""
)
