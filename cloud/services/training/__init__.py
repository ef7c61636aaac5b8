"""电商学院 (e-commerce academy): courses, trainers, sessions, enrolments, QR check-in,
certificates with a verifying QR, and the programme's talent-training totals."""
