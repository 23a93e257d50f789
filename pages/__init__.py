"""The app's pages (run by st.navigation in app.py) and their shared helpers in `pages.ui`."""
