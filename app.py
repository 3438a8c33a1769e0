from recruiter import create_app

app = create_app()
