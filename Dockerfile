# One image for every Python service of docker-compose.yml: web (gunicorn), worker, beat, flower
# and the API Gateway emulator. Configuration comes from the environment (see worker/settings.py).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=worker.settings \
    DJANGO_STATIC_ROOT=/app/static

WORKDIR /app

# Dependencies first, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p wsgateway worker \
    && touch wsgateway/__init__.py worker/__init__.py \
    && pip install ".[postgres,demo,emulator]" \
    && pip uninstall -y wsgateway

COPY manage.py ./
COPY wsgateway ./wsgateway
COPY worker ./worker
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 1000 app \
    && mkdir -p /app/static /app/.demo \
    && chown -R app /app/static /app/.demo

USER app
EXPOSE 8000 4510 5555

CMD ["gunicorn", "worker.wsgi:application", "--bind", "0.0.0.0:8000"]
