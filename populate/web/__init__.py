"""``ibl-video serve``: the pipeline's web page (issue 18).

Three views of the same tables, server-rendered (Starlette, Jinja2 templates, a little
plain JavaScript shipped in ``static/``; nothing is downloaded at run time):

- ``/`` the pipeline: rows, pending, reserved and errors per table (refreshing itself), the
  errors with a retry button each, and the workers holding keys;
- ``/session/<subject>/<date>/<number>`` a session: QC grid, overview figure, the video with
  the tracked points drawn over it, and the reviewers' verdicts (``QCReview``);
- ``/camera/<label>`` the camera set-up aid: a live MJPEG stream of the camera with the
  saturation view, reference outline, histogram and brightness verdict.

Actions that change tables (retry, review) need the token printed at start.
"""

from populate.web.app import create_app

__all__ = ["create_app"]
