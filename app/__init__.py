"""dermascan's Streamlit app: pages in app_pages/, data access in backend.py."""
