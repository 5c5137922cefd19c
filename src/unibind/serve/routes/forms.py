"""The multipart form fields the upload routes (``/api/embed/file``, ``/api/search/file``) share."""

from typing import Annotated

from fastapi import File, Form, UploadFile

from unibind.serve.schemas import UploadModality

QueryFile = Annotated[UploadFile, File(description="the query file")]
QueryFileModality = Annotated[UploadModality | None, Form(description="default: from the file's suffix")]
