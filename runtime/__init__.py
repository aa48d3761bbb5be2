"""dermascan's pipeline: the code that ships to Lambda and runs locally.

It imports with only boto3, Pillow and Powertools installed; transformers, torch and streamlit
are imported lazily by the local-only code.
"""
