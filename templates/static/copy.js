// Progressive enhancement: a Copy button on install lines. Everything works without it.
document.querySelectorAll("pre.copyable").forEach(function (block) {
  if (!navigator.clipboard) { return; }
  var button = document.createElement("button");
  button.type = "button";
  button.className = "copy-button";
  button.textContent = "Copy";
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(block.innerText.replace(/\s*Copy(ied)?$/, "")).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });
  block.appendChild(button);
});
