"""About: which model answers, what it learnt from, what it cannot do, and the licences."""

from __future__ import annotations

import streamlit as st

from app.markup import plain
from app.session import shared_backend
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
CARD = f"https://huggingface.co/{DEFAULT_MODEL_ID}"

backend = shared_backend()
configured = backend.model_description()

st.header("About dermascan")
st.markdown(
    "dermascan is **triage support**: it estimates how much a dermatoscopic image resembles "
    "each of seven lesion classes. It does not diagnose, it has not been clinically validated, "
    "and it must not delay a visit to a clinician."
)

st.subheader("The model answering here")
if configured.id is None:
    st.markdown(
        "Results come from the deployed stack's SageMaker endpoint: the stack's `modelId` and "
        "`modelRevision` settings decide which model it serves (`pulumi config`). Each "
        "result's provenance names the model and revision that made it."
    )
elif configured.local_path:
    st.markdown(
        f"A model from a local directory: `{plain(configured.id)}` (set by `DERMASCAN_MODEL`). "
        "It has no Hub revision; what is said below of the default model does not describe it."
    )
else:
    st.markdown(
        f"`{plain(configured.id)}` from the Hugging Face Hub, revision "
        f"`{plain(configured.revision or 'latest (unpinned)')}`."
    )
    if not configured.is_default:
        st.warning(
            "This is not the model dermascan pins by default: what is said below of that "
            "model does not describe it. Measure it on your own confirmed cases "
            "(`dermascan evaluate`) before relying on it.",
            icon=":material/warning:",
        )

st.subheader("The default model")
st.markdown(
    f"""
A Vision Transformer (ViT-Base/16, 86 million parameters) fine-tuned by a community author
from Google's `vit-base-patch16-224-in21k`: [`{DEFAULT_MODEL_ID}`]({CARD}), pinned to revision
`{DEFAULT_MODEL_REVISION[:12]}`. Every image is squashed to 224x224 pixels before the model sees
it. Locally it runs on this computer's CPU; on AWS the same model runs on a SageMaker endpoint,
so both give the same scores.

### What it learnt from
The HAM10000 dataset: 10,015 dermatoscopic images from Vienna and Queensland, mostly of
light-skinned patients; two thirds of them are moles (nv); dermatofibroma and vascular lesions
have about a hundred images each (Tschandl et al., 2018, below).

### Honest limits
- **Dermatoscopic images only.** Phone snapshots, clinical photos and other skin conditions
  are outside what it learnt; it will still answer, often confidently, and wrongly.
- **A skewed dataset.** It leans towards "mole", has seen few images of dark skin, and
  nothing of lesions on nails, mucosa or the scalp.
- **Accuracy is not what the card says.** The model card claims 96.95 % validation accuracy
  ([model card]({CARD})). It was measured on a split of a HAM10000 copy
  ([marmal88/skin_cancer](https://huggingface.co/datasets/marmal88/skin_cancer)) in which
  about 80 % of the test images' ids also appear in the training split, so it overstates.
  Published work shows why accuracy misleads here: Vision Transformers trained on HAM10000
  reached 92.8 % accuracy yet found only 56 % of melanomas (Flosdorf et al., 2024,
  [arXiv:2407.18554](https://arxiv.org/abs/2407.18554)). No independent measurement of this
  model is published: measure it on your own confirmed cases with `dermascan evaluate`.
- **Scores are not probabilities of disease.** They are the model's softmax outputs, which
  tend to be overconfident. dermascan leads every result with the malignant total and refers
  on it, but a confident answer can still be wrong.
"""
)

st.subheader("The seven classes")
for code in CLASSES:
    malignant = " · **▲ malignant**" if code in MALIGNANT else ""
    st.markdown(f"**{NAMES[code]} ({code})**{malignant}  \n{EXPLAINED[code]}")

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
